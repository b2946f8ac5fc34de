/**
 * lib/connection/session-end.ts on its own: what each way a v2 session ends is reported as (the
 * peer's CLOSE, a failure code known or not, a truncation with or without Node's error), and the
 * CLOSE we send for each failure we find, its reason cut to what a CLOSE carries. The end-to-end
 * behaviour over real connections is in session-end.test.ts and session-failure-close.test.ts.
 */
import test from 'ava';
import { bothEndedReason, endOfMessagesReason, failureCloseFor, isPeerClose, peerCloseReason, revokedReason, truncatedReason } from '../lib/connection/session-end.js';
import { CurvetunError } from '../lib/errors.js';
import { CloseCode, FAILURE_CLOSE, V2_CLOSE_REASON_MAX_BYTES } from '../lib/protocol/v2/index.js';

const noFrames = (error: Error) => !(error.stack ?? '').includes('\n    at ');

test("a CLOSE with code 0 or an application's code is a clean close carrying its code and reason", (t) => {
  for (const [code, reason, text] of [
    [0, '', 'code 0'],
    [0, 'done', 'code 0: done'],
    [1000, '', 'code 1000'],
    [65_535, 'maintenance', 'code 65535: maintenance'],
  ] as const) {
    const error = peerCloseReason(code, reason);
    t.is(error.code, 'ECLOSED', `code ${code}`);
    t.is(error.peerCode, code);
    t.is(error.peerReason, reason);
    t.is(error.message, `the peer closed the connection (CLOSE ${text})`);
    t.true(isPeerClose(error));
  }
  t.is(peerCloseReason(0, '', 'closed 3 ms after READY').message, 'closed 3 ms after READY (CLOSE code 0)', 'what is known leads the message');
});

const stackTraceLimit = Error.stackTraceLimit;

test('each failure code is reported as the failure it names, never as an end; one this version does not know (1–999) is EPROTO', (t) => {
  for (const [code, { error: expected, says }] of FAILURE_CLOSE) {
    const error = peerCloseReason(code, 'why');
    t.is(error.code, expected, `code ${code}`);
    t.is(error.message, `the peer closed the connection: ${says} (CLOSE code ${code}: why)`);
    t.is(error.peerCode, code);
    t.is(error.peerReason, 'why');
    t.true(noFrames(error), 'a peer-caused error carries no stack of ours');
  }
  for (const code of [6, 500, 999]) {
    const error = peerCloseReason(code, '');
    t.is(error.code, 'EPROTO', `code ${code}`);
    t.is(error.message, `the peer closed the connection: it found a failure this version does not name (CLOSE code ${code})`);
    t.is(error.peerCode, code);
  }
  t.is(peerCloseReason(1000, '').code, 'ECLOSED', "1000 is the application's first code");
  t.is(Error.stackTraceLimit, stackTraceLimit, 'the stack limit is restored');
});

test('isPeerClose tells the peer\'s CLOSE from every reason of our own', (t) => {
  t.false(isPeerClose(new CurvetunError('EPROTO', 'ours')));
  t.false(isPeerClose(bothEndedReason()));
  t.false(isPeerClose(truncatedReason()));
  t.false(isPeerClose(revokedReason('gone')));
});

test('the CLOSE we send: a code for each failure of the peer, a revoked key and our idle timeout; none for an end, a truncation or the peer\'s own CLOSE', (t) => {
  t.deepEqual(failureCloseFor(new CurvetunError('EPROTO', 'a PONG answering no PING')), { code: CloseCode.protocolViolation, reason: 'a PONG answering no PING' });
  t.deepEqual(failureCloseFor(new CurvetunError('ETOOBIG', 'past 1024 bytes')), { code: CloseCode.tooBig, reason: 'past 1024 bytes' });
  t.deepEqual(failureCloseFor(new CurvetunError('ETIMEDOUT', 'idle for 5 s')), { code: CloseCode.idleTimeout, reason: 'idle for 5 s' });
  // Never what our own error says about it: only that a message did not authenticate.
  t.deepEqual(failureCloseFor(new CurvetunError('EAUTH', 'details of ours')), { code: CloseCode.notAuthentic, reason: 'a message did not authenticate' });
  // A revocation is EAUTH too, told apart; its reason never names our registry's verdict.
  const revoked = revokedReason('no line allows this key from 10.0.0.1');
  t.is(revoked.code, 'EAUTH');
  t.is(revoked.message, 'closed on registry reload: no line allows this key from 10.0.0.1');
  t.deepEqual(failureCloseFor(revoked), { code: CloseCode.revoked, reason: 'this key is no longer allowed' });
  for (const reason of [bothEndedReason(), endOfMessagesReason(), truncatedReason(), new CurvetunError('EINVAL', 'ours'), peerCloseReason(1, 'x'), peerCloseReason(5, ''), peerCloseReason(0, '')]) {
    t.is(failureCloseFor(reason), null, `${reason.code}: ${reason.message}`);
  }
});

test('a CLOSE reason is cut to 256 bytes of UTF-8 on a character boundary, and kept whole when it fits', (t) => {
  const fits = 'x'.repeat(V2_CLOSE_REASON_MAX_BYTES);
  t.is(failureCloseFor(new CurvetunError('EPROTO', fits))!.reason, fits);
  t.is(failureCloseFor(new CurvetunError('EPROTO', `${fits}y`))!.reason, fits);
  // A one-byte lead shifts the boundaries: no piece of a character (nor half a surrogate pair) is left.
  for (const [lead, character] of [['', 'é'], ['', '€'], ['', '😀'], ['a', '😀'], ['ab', '€']] as const) {
    const long = lead + character.repeat(200);
    const { reason } = failureCloseFor(new CurvetunError('ETOOBIG', long))!;
    const bytes = Buffer.byteLength(reason, 'utf8');
    t.true(bytes <= V2_CLOSE_REASON_MAX_BYTES && bytes > V2_CLOSE_REASON_MAX_BYTES - Buffer.byteLength(character), `${character}: ${bytes} bytes`);
    t.true(long.startsWith(reason) && (reason.length - lead.length) % character.length === 0, `${lead}${character}: whole characters only`);
    t.false(reason.includes('\uFFFD') || /[\uD800-\uDBFF]$/.test(reason), `${lead}${character}: no broken character`);
  }
});

test('the ends of a session: both ENDs and the peer\'s END are clean; a TCP end without END or CLOSE is ETRUNCATED, keeping Node\'s error', (t) => {
  t.is(bothEndedReason().code, 'ECLOSED');
  t.is(bothEndedReason().message, 'both sides ended the connection (END each way)');
  t.is(endOfMessagesReason().code, 'ECLOSED');
  t.is(endOfMessagesReason().message, 'the peer has ended its messages (END)');

  const plain = truncatedReason();
  t.is(plain.code, 'ETRUNCATED');
  t.is(plain.message, "TCP ended without the peer's END or CLOSE: what arrived may be incomplete");
  t.is(plain.cause, undefined);
  t.true(noFrames(plain));

  const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104, syscall: 'read' }) as NodeJS.ErrnoException;
  const cut = truncatedReason(reset) as CurvetunError & NodeJS.ErrnoException;
  t.is(cut.code, 'ETRUNCATED', 'our code, not the system one');
  t.is(cut.message, "the connection failed (ECONNRESET) without the peer's END or CLOSE: what arrived may be incomplete");
  t.is(cut.cause, reset);
  t.is(cut.errno, -104);
  t.is(cut.syscall, 'read');
  t.is(truncatedReason(new Error('no code') as NodeJS.ErrnoException).message, "the connection failed (socket error) without the peer's END or CLOSE: what arrived may be incomplete");
  t.is(Error.stackTraceLimit, stackTraceLimit);
});
