/** `socket:` of listeners and clusters: TCP socket options. */
import { z } from 'zod';
import { bool, duration, oneOf } from './fields.js';

const socketFields = {
  noDelay: bool().default(true),
  keepAlive: duration().default(0),
};

/** TCP_NODELAY and keep-alive, with their defaults (clusters: upstream connections). */
export const socketSchema = z.strictObject(socketFields).prefault({});

/** A listener's socket options: those of {@link socketSchema}, and whether raw passthrough may use splice(2). */
export const listenerSocketSchema = z
  .strictObject({
    ...socketFields,
    splice: oneOf(['auto', 'off']).default('auto'),
  })
  .prefault({});
