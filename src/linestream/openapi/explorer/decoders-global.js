// decoders.js is an ES module (compiled from the TypeScript client's decoders); explorer.js, a deferred classic
// script that runs after this one, finds it here.
import * as decoders from "./decoders.js";

globalThis.linestreamDecoders = decoders;
