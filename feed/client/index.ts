// The feed client library: `import { FeedClient } from '…/feed/client/index.js'`.
export { FeedClient, type FeedClientOptions, type FeedClientStats } from './feed-client.js';
export { LocalL2Book, LocalL3Book } from './local-book.js';
export { WsConnection, WsFrameParser, type WsHandlers } from './ws-connection.js';
export { l2Checksum, checksumString, CHECKSUM_LEVELS } from '../checksum.js';
export * from '../types.js';
export {
  decimalUnitsText,
  fromDecimalForm,
  l2ChecksumOfDecimal,
  toDecimalForm,
  type InstrumentDecimals,
} from '../decimal-form.js';
