// The startup benchmark's reference task: a Node process that reports ready at once and idles until stopped.
import { reportReady, watchOwner } from '../../runtime/src/pool/index.ts';

watchOwner();
reportReady({});
setInterval(() => {}, 60_000);
