/**
 * A Stryker ignorer: leaves the message text of our errors alone. `new CurvetunError(code, text)`,
 * `new ProtocolError(text)` and `new Error(text)` (an internal invariant) say in words what went
 * wrong; a mutant that empties the words changes no behaviour, and the code (which callers and
 * tests rely on) is still mutated.
 */
import { PluginKind, declareClassPlugin } from '@stryker-mutator/api/plugin';

/** Constructor name → index of its message argument. */
const MESSAGE_ARGUMENT = { CurvetunError: 1, ProtocolError: 0, Error: 0 };

class MessageTextIgnorer {
  shouldIgnore(path) {
    const parent = path.parentPath;
    if (!parent || !parent.isNewExpression() || parent.node.callee.type !== 'Identifier') return undefined;
    const index = MESSAGE_ARGUMENT[parent.node.callee.name];
    if (index === undefined || parent.node.arguments[index] !== path.node) return undefined;
    return 'error message text (the error code is still mutated)';
  }
}

export const strykerPlugins = [declareClassPlugin(PluginKind.Ignore, 'message-text', MessageTextIgnorer)];
