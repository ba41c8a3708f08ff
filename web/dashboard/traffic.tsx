/** Traffic: placeholder until the traffic tail endpoint exists. */
import type { Snapshot } from './store.js';

export function Traffic({ snap, listener }: { snap: Snapshot; listener: string | undefined }) {
  return (
    <section id="traffic">
      <p class="muted">
        {listener ?? 'all listeners'} ({snap.listeners.length} listeners)
      </p>
    </section>
  );
}
