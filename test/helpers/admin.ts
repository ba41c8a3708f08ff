import { AdminServer } from '../../src/admin/server.js';
import type { Switchyard } from '../../src/runtime/switchyard.js';
import { startEchoServer, type TestServer } from './net.js';
import { startProxy } from './yard.js';

export const LOOPBACK = { kind: 'tcp', host: '127.0.0.1', port: 0 } as const;

/** An echo upstream, a proxy in front of it (listener l1 → route r1 → cluster c1) and the admin API. */
export interface AdminStack {
  echo: TestServer;
  yard: Switchyard;
  /** The proxy listener's port. */
  port: number;
  admin: AdminServer;
}

export async function startAdminStack(token?: string): Promise<AdminStack> {
  const echo = await startEchoServer();
  const { yard, port } = await startProxy({ upstreams: [`127.0.0.1:${echo.port}`] });
  const admin = await AdminServer.start(yard, { listen: LOOPBACK, token });
  return { echo, yard, port, admin };
}

export async function stopAdminStack(s: AdminStack): Promise<void> {
  await s.admin.close();
  await s.yard.close();
  await s.echo.close();
}
