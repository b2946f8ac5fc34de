/** Help texts, one per subcommand, printed by `--help` (exit 0) and after usage errors (exit 2). */

const COMMON = `Common options:
  --home DIR          identity and known_hosts directory (default $CURVETUN_HOME or ~/.curvetun)
  --key FILE          secret key file (default DIR/id_curvetun; its public half is FILE.pub)
  --known-hosts FILE  registry file (default DIR/known_hosts)
  -v, --verbose       a status line per connection on stderr (peer key, address, bytes each way)
  -h, --help          this help

Environment: CURVETUN_HOME (as --home); CURVETUN_STRICT_MODES=0 trusts known_hosts even when
others can write it or a directory above it (refused by default: they could add keys).`;

export const HELP: Record<string, string> = {
  main: `curvetun: encrypted, mutually authenticated tunnels over TCP (curve_tun protocol)

Usage: curvetun <command> [options]

Commands:
  keygen                       make a key pair (secret file mode 0600), print the public key
  pubkey                       print this identity's public key
  registry add|remove|list     edit or show known_hosts (who may connect; which key a server has)
  echo-server --listen H:P     a curvetun server that echoes every message
  send H:P  (alias: cat)       stdin to a curvetun server, its replies to stdout
  serve --listen H:P --forward H:P   server end: authenticated clients -> a TCP service
  tunnel --listen H:P --to H:P       client end: a local TCP port -> curvetun -> serve

Run 'curvetun <command> --help' for a command's options.
Exit status: 0 ok, 1 failure, 2 usage error.`,
  keygen: `Usage: curvetun keygen [--home DIR | --key FILE] [--comment TEXT] [--force]

Writes a new secret key file (mode 0600) and FILE.pub, prints the public key line.
Refuses to replace an existing key unless --force is given.

${COMMON}`,
  pubkey: `Usage: curvetun pubkey [--home DIR | --key FILE]

Prints the public key line of the identity (derived from the secret key file).

${COMMON}`,
  registry: `Usage: curvetun registry add WHO KEY|FILE
       curvetun registry remove WHO [KEY|FILE]
       curvetun registry list

WHO is an IP address, a CIDR network, a host name, a domain pattern (.example.com) or *.
KEY is the base64 public key, a 'curvetun-x25519 <base64>' line, or a .pub file.
A server admits a client key from the addresses WHO covers; a client looks up a server's key by
the host it connects to.

${COMMON}`,
  'echo-server': `Usage: curvetun echo-server --listen HOST:PORT [--any-client] [--max-connections N]

Echoes every message back. Only clients in known_hosts are admitted, unless --any-client.
Prints 'echo-server listening on HOST:PORT key <base64>' on stderr; stops on SIGINT/SIGTERM.

${COMMON}`,
  send: `Usage: curvetun send HOST:PORT [--server-key KEY|FILE] [--wait MS] [--timeout MS]

Sends stdin to the server and writes what it sends back to stdout (alias: cat).
The protocol has no half-close: after stdin ends, the connection is closed once the server has
been quiet for --wait ms (default 1000) or when the server closes it.
Without --server-key, the server's key is looked up in known_hosts by HOST.

${COMMON}`,
  serve: `Usage: curvetun serve --listen HOST:PORT --forward HOST:PORT
                     [--allow-forward PATTERN]... [--allow-from PATTERN]... [--max-connections N]

Server end of a tunnel: admits clients whose key known_hosts allows from their address, and joins
each to a new TCP connection to the --forward target.
--allow-forward  patterns the forward target must match, checked before connecting
                 (default: 127.0.0.0/8, ::1, localhost)
--allow-from     only accept TCP from these addresses (checked before any cryptography)
Prints 'serve listening on HOST:PORT -> TARGET key <base64>' on stderr; stops on SIGINT/SIGTERM.

${COMMON}`,
  tunnel: `Usage: curvetun tunnel --listen HOST:PORT --to HOST:PORT [--server-key KEY|FILE]
                      [--timeout MS] [--max-connections N]

Client end of a tunnel: each TCP connection to --listen is carried through curvetun to the
'curvetun serve' at --to. Without --server-key, its key is looked up in known_hosts by HOST.
Prints 'tunnel listening on HOST:PORT -> TARGET ...' on stderr; stops on SIGINT/SIGTERM.

${COMMON}`,
};
HELP.cat = HELP.send!;
