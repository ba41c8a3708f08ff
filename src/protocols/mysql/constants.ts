/** MySQL / MariaDB client/server protocol constants used by the codec. */

/** Payload length of a full packet: a logical packet of this length continues in the next packet. */
export const MAX_PAYLOAD = 0xffffff;

/** Capability flags (low 32 bits). */
export const Cap = {
  /** CLIENT_LONG_PASSWORD; MariaDB calls it CLIENT_MYSQL (unset by MariaDB servers: extended flags follow). */
  MYSQL: 1,
  CONNECT_WITH_DB: 0x8,
  COMPRESS: 0x20,
  LOCAL_FILES: 0x80,
  PROTOCOL_41: 0x200,
  SSL: 0x800,
  TRANSACTIONS: 0x2000,
  SECURE_CONNECTION: 0x8000,
  MULTI_STATEMENTS: 0x10000,
  MULTI_RESULTS: 0x20000,
  PS_MULTI_RESULTS: 0x40000,
  PLUGIN_AUTH: 0x80000,
  CONNECT_ATTRS: 0x100000,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 0x200000,
  SESSION_TRACK: 0x800000,
  DEPRECATE_EOF: 0x1000000,
  OPTIONAL_RESULTSET_METADATA: 0x2000000,
  ZSTD_COMPRESSION: 0x4000000,
  QUERY_ATTRIBUTES: 0x8000000,
} as const;

/** MariaDB extended capability flags (the high 32 bits, sent in the handshake filler when CLIENT_MYSQL is unset). */
export const ExtCap = {
  PROGRESS: 1,
  STMT_BULK_OPERATIONS: 4,
  EXTENDED_METADATA: 8,
  CACHE_METADATA: 16,
} as const;

/** Server status flags (OK / EOF packets). */
export const Status = {
  MORE_RESULTS_EXISTS: 0x0008,
  CURSOR_EXISTS: 0x0040,
} as const;

/** Command bytes and their names (COM_*). */
export const Com = {
  QUIT: 0x01,
  INIT_DB: 0x02,
  QUERY: 0x03,
  FIELD_LIST: 0x04,
  STATISTICS: 0x09,
  CHANGE_USER: 0x11,
  BINLOG_DUMP: 0x12,
  STMT_PREPARE: 0x16,
  STMT_EXECUTE: 0x17,
  STMT_SEND_LONG_DATA: 0x18,
  STMT_CLOSE: 0x19,
  STMT_RESET: 0x1a,
  STMT_FETCH: 0x1c,
  BINLOG_DUMP_GTID: 0x1e,
  RESET_CONNECTION: 0x1f,
  CLONE: 0x20,
  SUBSCRIBE_GROUP_REPLICATION_STREAM: 0x21,
  STMT_BULK_EXECUTE: 0xfa,
} as const;

const NAMES: Record<number, string> = {
  0x00: 'COM_SLEEP',
  0x01: 'COM_QUIT',
  0x02: 'COM_INIT_DB',
  0x03: 'COM_QUERY',
  0x04: 'COM_FIELD_LIST',
  0x05: 'COM_CREATE_DB',
  0x06: 'COM_DROP_DB',
  0x07: 'COM_REFRESH',
  0x08: 'COM_SHUTDOWN',
  0x09: 'COM_STATISTICS',
  0x0a: 'COM_PROCESS_INFO',
  0x0b: 'COM_CONNECT',
  0x0c: 'COM_PROCESS_KILL',
  0x0d: 'COM_DEBUG',
  0x0e: 'COM_PING',
  0x0f: 'COM_TIME',
  0x10: 'COM_DELAYED_INSERT',
  0x11: 'COM_CHANGE_USER',
  0x12: 'COM_BINLOG_DUMP',
  0x13: 'COM_TABLE_DUMP',
  0x14: 'COM_CONNECT_OUT',
  0x15: 'COM_REGISTER_SLAVE',
  0x16: 'COM_STMT_PREPARE',
  0x17: 'COM_STMT_EXECUTE',
  0x18: 'COM_STMT_SEND_LONG_DATA',
  0x19: 'COM_STMT_CLOSE',
  0x1a: 'COM_STMT_RESET',
  0x1b: 'COM_SET_OPTION',
  0x1c: 'COM_STMT_FETCH',
  0x1d: 'COM_DAEMON',
  0x1e: 'COM_BINLOG_DUMP_GTID',
  0x1f: 'COM_RESET_CONNECTION',
  0x20: 'COM_CLONE',
  0x21: 'COM_SUBSCRIBE_GROUP_REPLICATION_STREAM',
  0xfa: 'COM_STMT_BULK_EXECUTE',
};

/** `COM_QUERY`, … or `COM_0xNN` for an unknown command byte. */
export function commandName(cmd: number): string {
  return NAMES[cmd] ?? `COM_0x${cmd.toString(16).padStart(2, '0')}`;
}
