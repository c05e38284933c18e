// Compiled from clients/typescript/src/decoders.ts by `npm run build` there: edit that file, not this one.
// Incremental decoders of linestream's stream formats, mirroring linestream.streams (Python). Each takes bytes as
// they arrive (any split) and returns the values completed so far; end() throws a TruncatedError when the stream
// stopped in the middle of a frame. Lines are split on bytes, so U+2028/U+2029 inside JSON strings are data.
// This module is the one JavaScript codec implementation: the @linestream/client package and linestream's
// explorer page (which loads this file's compiled output) both use it.
/** The bytes ended in the middle of a frame: the last item is incomplete. */
export class TruncatedError extends Error {
    constructor(message) {
        super(message);
        this.name = "TruncatedError";
    }
}
/** The bytes are not a valid frame of the format (or a frame is over the size limit). */
export class DecodeError extends Error {
    /** The values the same feed() decoded before the bad frame: they are valid, and came first. */
    values = [];
    constructor(message) {
        super(message);
        this.name = "DecodeError";
    }
}
/** A value whose JSON text began with white space: in a stream that announces records, one of the server's
 * records (`{"end": ...}`, `{"error": ...}`), told apart from items by its framing, whatever an item holds. */
export class Marked {
    value;
    constructor(value) {
        this.value = value;
    }
}
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;
const LF = 0x0a;
const CR = 0x0d;
const RS = 0x1e;
const utf8 = new TextDecoder("utf-8", { fatal: true });
function concat(a, b) {
    if (a.length === 0)
        return b;
    if (b.length === 0)
        return a;
    const joined = new Uint8Array(a.length + b.length);
    joined.set(a, 0);
    joined.set(b, a.length);
    return joined;
}
function isBlank(bytes) {
    for (const byte of bytes) {
        if (byte !== 0x20 && byte !== 0x09 && byte !== LF && byte !== CR)
            return false;
    }
    return true;
}
function message(error) {
    return error instanceof Error ? error.message : String(error);
}
function parseJson(bytes, what) {
    let text;
    try {
        text = utf8.decode(bytes);
    }
    catch {
        throw new DecodeError(`${what} is not valid UTF-8`);
    }
    try {
        return JSON.parse(text);
    }
    catch (error) {
        throw new DecodeError(`${what} is not valid JSON: ${message(error)}`);
    }
}
function isSpace(byte) {
    return byte === 0x20 || byte === 0x09 || byte === LF || byte === CR;
}
function tooLarge(what, size, limit) {
    return new DecodeError(`${what} is longer than maxFrameSize=${limit} bytes (${size} bytes so far)`);
}
/** What every decoder shares: the frame count, the size bound, and feed(), which gives a DecodeError the values
 * the same chunk completed before the bad frame. */
export class FrameDecoder {
    frames = 0;
    maxFrameSize;
    marks;
    constructor(options = {}) {
        this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
        this.marks = options.marks ?? false;
    }
    /** `value`, marked if the JSON text it came from began with white space (and marks were asked for). */
    marked(value, spaced) {
        return this.marks && spaced ? new Marked(value) : value;
    }
    feed(chunk) {
        const values = [];
        try {
            this.decode(chunk, values);
        }
        catch (error) {
            if (error instanceof DecodeError)
                error.values = values;
            throw error;
        }
        return values;
    }
}
/** JSON Lines and NDJSON: one JSON text per line, LF or CRLF, blank lines ignored. */
export class LinesDecoder extends FrameDecoder {
    pending = new Uint8Array(0);
    decode(chunk, values) {
        let start = 0;
        // Only the new bytes are searched: the pending ones hold no line feed.
        for (let index = chunk.indexOf(LF); index !== -1; index = chunk.indexOf(LF, start)) {
            let line = concat(this.pending, chunk.subarray(start, index));
            this.pending = new Uint8Array(0);
            if (line.length && line[line.length - 1] === CR)
                line = line.subarray(0, line.length - 1);
            start = index + 1;
            if (line.length > this.maxFrameSize)
                throw tooLarge(`Line ${this.frames + 1}`, line.length, this.maxFrameSize);
            if (isBlank(line))
                continue;
            this.frames += 1;
            values.push(this.marked(parseJson(line, `Line ${this.frames}`), isSpace(line[0])));
        }
        this.pending = concat(this.pending, chunk.slice(start));
        if (this.pending.length > this.maxFrameSize) {
            throw tooLarge(`Line ${this.frames + 1}`, this.pending.length, this.maxFrameSize);
        }
    }
    end() {
        if (!isBlank(this.pending)) {
            throw new TruncatedError(`the stream ended inside line ${this.frames + 1} (no final line feed)`);
        }
        return [];
    }
}
/** RFC 7464 JSON text sequences: 0x1E + JSON text + LF; a record is complete at the next separator, or as soon as
 * it ends with LF and parses. */
export class SeqDecoder extends FrameDecoder {
    record = null;
    decode(chunk, values) {
        let start = 0;
        for (let index = chunk.indexOf(RS); index !== -1; index = chunk.indexOf(RS, start)) {
            this.add(chunk.subarray(start, index));
            this.finish(values);
            this.record = new Uint8Array(0);
            start = index + 1;
        }
        this.add(chunk.subarray(start));
        const record = this.record;
        if (record && record.length && record[record.length - 1] === LF && !isBlank(record)) {
            try {
                JSON.parse(utf8.decode(record));
                this.finish(values);
            }
            catch {
                // Not whole yet: more of it is on its way.
            }
        }
    }
    add(bytes) {
        if (this.record === null) {
            if (!isBlank(bytes))
                throw new DecodeError("a JSON text sequence must start with the separator 0x1E");
            return;
        }
        this.record = concat(this.record, bytes.slice());
        if (this.record.length > this.maxFrameSize) {
            throw tooLarge(`Record ${this.frames + 1}`, this.record.length, this.maxFrameSize);
        }
    }
    finish(values) {
        const record = this.record;
        this.record = null;
        if (record === null || isBlank(record))
            return;
        if (record[record.length - 1] !== LF) {
            throw new DecodeError(`record ${this.frames + 1} does not end with a line feed (RFC 7464)`);
        }
        this.frames += 1;
        values.push(this.marked(parseJson(record, `Record ${this.frames}`), isSpace(record[0])));
    }
    end() {
        const record = this.record;
        if (record !== null && record.length && record[record.length - 1] !== LF) {
            throw new TruncatedError(`the stream ended inside record ${this.frames + 1} (no final line feed)`);
        }
        const values = [];
        this.finish(values);
        return values;
    }
}
/** Server-Sent Events, per the WHATWG parsing rules: lines end at CRLF, LF or CR; a leading BOM is dropped; one
 * space after the colon is removed; an event is dispatched at a blank line if it carried data. `retry` is the
 * last reconnection time the stream set; `pendingRetry` one set after the last event (a server shutting down
 * sends it alone: "come back in this many ms"). */
export class SseDecoder extends FrameDecoder {
    retry = undefined;
    pendingRetry = undefined;
    text = new TextDecoder("utf-8");
    buffer = "";
    first = true;
    data = [];
    size = 0;
    event = "";
    eventRetry = undefined;
    lastEventId = "";
    decode(chunk, values) {
        let text = this.buffer + this.text.decode(chunk, { stream: true });
        if (this.first && text.length) {
            if (text.charCodeAt(0) === 0xfeff)
                text = text.slice(1);
            this.first = false;
        }
        let start = 0;
        for (;;) {
            const cr = text.indexOf("\r", start);
            const lf = text.indexOf("\n", start);
            let end;
            let next;
            if (cr === -1 && lf === -1)
                break;
            if (cr !== -1 && (lf === -1 || cr < lf)) {
                if (cr === text.length - 1)
                    break; // a CR at the end may be the start of a CRLF
                end = cr;
                next = text[cr + 1] === "\n" ? cr + 2 : cr + 1;
            }
            else {
                end = lf;
                next = lf + 1;
            }
            this.line(text.slice(start, end), values);
            start = next;
        }
        this.buffer = text.slice(start);
        if (this.size + this.buffer.length > this.maxFrameSize) {
            throw tooLarge(`Event ${this.frames + 1}`, this.size + this.buffer.length, this.maxFrameSize);
        }
    }
    line(line, events) {
        if (line === "") {
            if (this.data.length) {
                this.frames += 1;
                this.pendingRetry = undefined;
                const event = { data: this.data.join("\n"), event: this.event || "message", id: this.lastEventId };
                if (this.eventRetry !== undefined)
                    event.retry = this.eventRetry;
                events.push(event);
            }
            this.data = [];
            this.size = 0;
            this.event = "";
            this.eventRetry = undefined;
            return;
        }
        if (line[0] === ":")
            return;
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value[0] === " ")
            value = value.slice(1);
        if (field === "data") {
            this.data.push(value);
            this.size += value.length + 1;
        }
        else if (field === "event")
            this.event = value;
        else if (field === "id" && !value.includes("\0"))
            this.lastEventId = value;
        else if (field === "retry" && /^[0-9]+$/.test(value)) {
            this.retry = this.eventRetry = this.pendingRetry = Number(value);
        }
    }
    end() {
        let rest = this.buffer + this.text.decode();
        const events = [];
        if (rest.endsWith("\r")) {
            // The CR held back in case a LF followed: at the end, it is a line break of its own.
            const lines = rest.split(/\r\n|\r|\n/);
            rest = lines.pop() ?? "";
            for (const line of lines)
                this.line(line, events);
        }
        if (rest !== "" || this.data.length) {
            throw new TruncatedError(`the stream ended inside event ${this.frames + 1}`);
        }
        return events;
    }
}
const BEFORE = 0;
const FIRST = 1;
const VALUE = 2;
const IN_VALUE = 3;
const AFTER = 4;
const DONE = 5;
/** A JSON array, element by element as its text arrives. Like linestream.streams.jsonarray, an object, array or
 * string element is returned as soon as it closes; a number, true, false or null at the delimiter after it. */
export class ArrayDecoder extends FrameDecoder {
    text = new TextDecoder("utf-8");
    buffer = "";
    position = 0;
    state = BEFORE;
    start = 0;
    depth = 0;
    structured = false;
    inString = false;
    escaped = false;
    /** White space came between the element's separator (or the `[`) and its first character. */
    spaced = false;
    decode(chunk, values) {
        const text = this.buffer + this.text.decode(chunk, { stream: true });
        let index = this.position;
        for (; index < text.length; index += 1) {
            const char = text.charAt(index);
            if (this.state === IN_VALUE) {
                if (this.inString) {
                    if (this.escaped)
                        this.escaped = false;
                    else if (char === "\\")
                        this.escaped = true;
                    else if (char === '"') {
                        this.inString = false;
                        if (this.depth === 0)
                            this.emit(text.slice(this.start, index + 1), values);
                    }
                }
                else if (char === '"') {
                    this.inString = true;
                }
                else if (char === "{" || char === "[") {
                    this.depth += 1;
                }
                else if (char === "}" || char === "]") {
                    if (this.structured) {
                        this.depth -= 1;
                        if (this.depth === 0)
                            this.emit(text.slice(this.start, index + 1), values);
                    }
                    else {
                        this.emit(text.slice(this.start, index), values); // a primitive ends at the array's ']'
                        this.delimiter(char);
                    }
                }
                else if (!this.structured && (char === "," || /\s/.test(char))) {
                    this.emit(text.slice(this.start, index), values);
                    this.delimiter(char);
                }
                continue;
            }
            if (/\s/.test(char)) {
                if (this.state === FIRST || this.state === VALUE)
                    this.spaced = true;
                continue;
            }
            if (this.state === BEFORE) {
                if (char !== "[")
                    throw new DecodeError(`a JSON array stream must start with '[', not '${char}'`);
                this.state = FIRST;
            }
            else if (this.state === FIRST || this.state === VALUE) {
                if (char === "]" && this.state === FIRST)
                    this.state = DONE;
                else if (char === "," || char === "]") {
                    throw new DecodeError(`unexpected '${char}' where element ${this.frames + 1} should start`);
                }
                else {
                    this.state = IN_VALUE;
                    this.start = index;
                    this.structured = char === "{" || char === "[" || char === '"';
                    this.depth = char === "{" || char === "[" ? 1 : 0;
                    this.inString = char === '"';
                }
            }
            else if (this.state === AFTER) {
                this.delimiter(char);
            }
            else {
                throw new DecodeError("data after the end of the JSON array");
            }
        }
        // Keep only the element being read.
        const keep = this.state === IN_VALUE ? this.start : index;
        this.buffer = text.slice(keep);
        this.start -= keep;
        this.position = index - keep;
        if (this.buffer.length > this.maxFrameSize) {
            throw tooLarge(`Element ${this.frames + 1}`, this.buffer.length, this.maxFrameSize);
        }
    }
    emit(element, values) {
        this.state = AFTER;
        this.frames += 1;
        const spaced = this.spaced;
        this.spaced = false;
        let value;
        try {
            value = JSON.parse(element);
        }
        catch (error) {
            throw new DecodeError(`element ${this.frames} is not valid JSON: ${message(error)}`);
        }
        values.push(this.marked(value, spaced));
    }
    delimiter(char) {
        if (char === ",")
            this.state = VALUE;
        else if (char === "]")
            this.state = DONE;
        else if (!/\s/.test(char))
            throw new DecodeError(`expected ',' or ']' after element ${this.frames}, got '${char}'`);
    }
    end() {
        if (this.state !== DONE) {
            throw new TruncatedError(`the JSON array ended after ${this.frames} element(s) without its closing ']'`);
        }
        return [];
    }
}
/** The stream formats by media type, and the decoder of each. */
export const DECODERS = {
    "application/jsonl": LinesDecoder,
    "application/x-ndjson": LinesDecoder,
    "application/json-seq": SeqDecoder,
    "text/event-stream": SseDecoder,
    "application/json": ArrayDecoder,
};
