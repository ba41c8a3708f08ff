/**
 * The splice half of the raw-TCP suite (tcp-proxy.test.ts) again, with the splice addon's `loop` driver: no thread
 * of its own, the JS thread's event loop waits on the spliced sockets. `auto` picks it when the process may run on
 * one CPU only; the plain suite runs with what `auto` picks on this machine (the `worker` thread on two or more
 * CPUs). The driver is chosen once per process, when the addon loads: this file sets it before anything loads it.
 * The JS path's half of the suite does not involve the addon and is not run twice.
 */
process.env['SWITCHYARD_SPLICE_THREAD'] = 'loop';
process.env['SWITCHYARD_TEST_TCP_PATHS'] = 'splice';
await import('./tcp-proxy.test.js');
