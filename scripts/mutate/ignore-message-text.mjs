/**
 * A Stryker ignorer: leaves the message text of our errors alone. `new CurvetunError(code, text)`,
 * `new RejectedError(code, text, …)`, `new ProtocolError(text)`, `new Error(text)` (an internal
 * invariant), the v2 server's `silent(code, text)` and the close reasons' `reasonError(code, text)`
 * say in words what went wrong; a mutant that empties the words changes no behaviour, and the code
 * (which callers and tests rely on) is still mutated.
 */
import { PluginKind, declareClassPlugin } from '@stryker-mutator/api/plugin';

/** Constructor name → index of its message argument. */
const MESSAGE_ARGUMENT = { CurvetunError: 1, RejectedError: 1, ProtocolError: 0, Error: 0 };
/** Functions that make an error from (code, text): name → index of the text. */
const MESSAGE_CALL_ARGUMENT = { silent: 1, reasonError: 1 };

class MessageTextIgnorer {
  shouldIgnore(path) {
    // `busy ? 'text' : 'other text'` as the argument: each branch is message text too (not its test).
    let argument = path;
    while (argument.parentPath?.isConditionalExpression() && argument.parentPath.node.test !== argument.node) argument = argument.parentPath;
    const parent = argument.parentPath;
    if (!parent || parent.node.callee?.type !== 'Identifier') return undefined;
    const table = parent.isNewExpression() ? MESSAGE_ARGUMENT : parent.isCallExpression() ? MESSAGE_CALL_ARGUMENT : undefined;
    const index = table && Object.hasOwn(table, parent.node.callee.name) ? table[parent.node.callee.name] : undefined;
    if (index === undefined || parent.node.arguments[index] !== argument.node) return undefined;
    return 'error message text (the error code is still mutated)';
  }
}

export const strykerPlugins = [declareClassPlugin(PluginKind.Ignore, 'message-text', MessageTextIgnorer)];
