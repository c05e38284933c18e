// @linestream/client: typed streams from linestream (and any server of its formats) over fetch.
export {
  ArrayDecoder,
  DECODERS,
  DecodeError,
  type Decoder,
  FrameDecoder,
  type DecoderOptions,
  LinesDecoder,
  type MediaType,
  SeqDecoder,
  SseDecoder,
  type SseEvent,
  TruncatedError,
} from "./decoders.js";
export { HTTPError, LineStreamError, type Problem, StreamDecodeError, StreamError, StreamTruncated } from "./errors.js";
export { type ReaderOptions, type RetryPolicy, type StreamEvent, StreamReader, type Validate } from "./reader.js";
export {
  buildUrl,
  events,
  type EventsOptions,
  fetchResponse,
  type Format,
  type HeaderValues,
  httpError,
  MEDIA_TYPES,
  mergeOptions,
  type QueryValue,
  request,
  type RequestOptions,
  Stream,
  stream,
  type StreamOptions,
} from "./client.js";
