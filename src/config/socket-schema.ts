/** `socket:` of listeners and clusters: TCP socket options. */
import { z } from 'zod';
import { bool, duration } from './fields.js';

/** TCP_NODELAY and keep-alive, with their defaults. */
export const socketSchema = z
  .strictObject({
    noDelay: bool().default(true),
    keepAlive: duration().default(0),
  })
  .prefault({});
