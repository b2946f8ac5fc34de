/** Help texts, one per subcommand, printed by `--help` (exit 0) and after usage errors (exit 2). */

const COMMON = `Common options:
  --home DIR          identity and known_hosts directory (default $CURVETUN_HOME or ~/.curvetun)
  --key FILE          secret key file (default DIR/id_curvetun; its public half is FILE.pub)
  --known-hosts FILE  registry file (default DIR/known_hosts)
  -v, --verbose       debug lines too (start-up configuration; for send, a line per connection)
  -h, --help          this help

Environment: CURVETUN_HOME (as --home); CURVETUN_STRICT_MODES=0 trusts known_hosts even when
others can write it or a directory above it (refused by default: they could add keys).`;

const SERVICE = `Service options:
  --log-format text|json   one line per event on stderr: start, listening, accepted, refused,
                           closed (peer address, key fingerprint, bytes up and down, duration,
                           reason), stopping, stopped (default text)
  --drain-timeout SECONDS  on SIGINT/SIGTERM: stop accepting, let open connections finish for
                           this long, then close the rest and exit 0 (default 30; also 500ms)
  --metrics HOST:PORT      serve Prometheus metrics at http://HOST:PORT/metrics
  --max-connections N      connections served at once; more are refused (default 256)
  --keepalive SECONDS|off  TCP keepalive on the curvetun connections: probes after this long
                           without traffic, so a vanished peer is noticed (default 60; off: none)
  --idle-timeout SECONDS   close a curvetun connection when nothing arrives from the peer for
                           this long (ETIMEDOUT; default never). v2 pings a quiet peer first;
                           v1 has no ping, so a quiet v1 peer is closed too
  --ping-interval SECONDS  v2: ping when nothing has arrived for this long (default half of
                           --idle-timeout, else never; 0 = never)
Signals: SIGINT/SIGTERM drain and stop (a second one ends the drain at once); SIGHUP reloads
known_hosts and closes the connections whose key it no longer allows; SIGUSR1 is ignored (Node
would open its inspector).`;

export const HELP: Record<string, string> = {
  main: `curvetun: encrypted, mutually authenticated tunnels over TCP (curve_tun protocol)

Usage: curvetun <command> [options]

Commands:
  keygen                       make a key pair (secret file mode 0600), print the public key
  pubkey                       print this identity's public key
  fingerprint [FILE|KEY]       print a key's fingerprint (SHA256:...), by default this identity's
  registry add|remove|list     edit or show known_hosts (who may connect; which key a server has)
  echo-server --listen H:P     a curvetun server that echoes every message
  send H:P  (alias: cat)       stdin to a curvetun server, its replies to stdout
  serve --listen H:P --forward H:P   server end: authenticated clients -> a TCP service
  tunnel --listen H:P --to H:P       client end: a local TCP port -> curvetun -> serve
  agent --to H:P --allow PATTERN     inside a private network: one outbound connection to a
                                     gateway, which reaches the targets --allow covers
  gateway --listen H:P --expose L=AGENT:T    agents dial in; local ports reach targets through them

Run 'curvetun <command> --help' for a command's options; 'curvetun --version' for the version.
Exit status: 0 ok, 1 failure, 2 usage error.`,
  keygen: `Usage: curvetun keygen [--home DIR | --key FILE] [--comment TEXT] [--force]

Writes a new secret key file (mode 0600) and FILE.pub, prints the public key line on stdout and
its fingerprint on stderr. Refuses to replace an existing key unless --force is given.

${COMMON}`,
  pubkey: `Usage: curvetun pubkey [--home DIR | --key FILE]

Prints the public key line of the identity (derived from the secret key file).

${COMMON}`,
  fingerprint: `Usage: curvetun fingerprint [FILE|KEY]

Prints 'SHA256:<base64>' (the SHA-256 of the 32 key bytes, unpadded base64, as OpenSSH shows keys)
and the key's comment, if it has one. FILE is a .pub file; KEY a 'curvetun-x25519 <base64> [comment]'
line or the base64 key. Without an argument: this identity's key (from its secret key file).
Logs and 'registry list' name keys the same way.

${COMMON}`,
  registry: `Usage: curvetun registry add [--v1] WHO KEY|FILE [--comment TEXT]
       curvetun registry remove WHO [KEY|FILE]
       curvetun registry remove KEY|FINGERPRINT
       curvetun registry list

WHO is an IP address, a CIDR network, a host name, a domain pattern (.example.com) or *.
KEY is the base64 public key or a 'curvetun-x25519 <base64> [comment]' line; FILE a .pub file.
A server admits a client key from the addresses WHO covers; a client looks up a server's key by
the host it connects to.
add      keeps the comment of the .pub line or file (or --comment); a line with the same WHO, key
         and mark is already there: says so and changes nothing.
remove   the lines for WHO (only those with KEY, when given), or every line with that key or
         fingerprint. Exit 1 when nothing matched.
list     one line each: [@v1] WHO SHA256:<fingerprint> curvetun-x25519 <base64> [comment]
A running serve applies changes at once and closes the connections whose key is no longer allowed.
--v1  mark the line '@v1': that client key may also use protocol v1, or (client side) that host is
      spoken to in v1. v1 lets whoever holds the server's secret key impersonate the client
      (key-compromise impersonation): mark only peers that cannot speak v2. 'list' shows the mark.

${COMMON}`,
  'echo-server': `Usage: curvetun echo-server --listen HOST:PORT [--any-client] [service options]
                           [--protocols v1,v2] [--post-quantum require|on|off]

Echoes every message back. Only clients in known_hosts are admitted, unless --any-client.
--protocols LIST   versions accepted, comma-separated (default v1,v2; v1 only for @v1 lines)
--post-quantum require|on|off   v2's ML-KEM-768: demand it, accept both (default), or refuse it
Logs 'listening address=HOST:PORT key=SHA256:...' on stderr when ready.
--workers N|auto  one process per core, as for serve (see curvetun serve --help)

${SERVICE}

${COMMON}`,
  send: `Usage: curvetun send HOST:PORT [--server-key KEY|FILE] [--wait MS] [--timeout MS] [--log-format text|json]
                      [--protocol v1|v2] [--no-post-quantum]

Sends stdin to the server and writes what it sends back to stdout (alias: cat).
The protocol has no half-close: after stdin ends, the connection is closed once the server has
been quiet for --wait ms (default 1000) or when the server closes it.
Without --server-key, the server's key is looked up in known_hosts by HOST.
--protocol v1|v2   the protocol version (default: the host's known_hosts line, @v1 -> v1, else v2;
                   never an automatic fallback)
--no-post-quantum  v2 without ML-KEM-768 (classical X25519 only)

${COMMON}`,
  serve: `Usage: curvetun serve --listen HOST:PORT --forward HOST:PORT
                     [--allow-forward PATTERN]... [--allow-from PATTERN]... [service options]
                     [--protocols v1,v2] [--post-quantum require|on|off]
                     [--proxy-protocol --trusted-proxy CIDR...] [--instance K] [--workers N|auto]

Server end of a tunnel: admits clients whose key known_hosts allows from their address, and joins
each to a new TCP connection to the --forward target.
--allow-forward  patterns the forward target must match, checked before connecting
                 (default: 127.0.0.0/8, ::1, localhost)
--allow-from     only accept TCP from these addresses (checked before any cryptography)
--protocols LIST   versions accepted, comma-separated (default v1,v2; v1 only for @v1 lines)
--post-quantum require|on|off   v2's ML-KEM-768: demand it, accept both (default), or refuse it
--proxy-protocol --trusted-proxy CIDR...
                 behind a TCP balancer (HAProxy send-proxy / send-proxy-v2, cloud balancers):
                 every connection must come from a --trusted-proxy address or network and start
                 with a PROXY protocol header (v1 or v2); the client address it carries is what
                 --allow-from, known_hosts and the logs see. Others are closed before any crypto.
--instance K     this copy's instance number (0-2047) when one key runs on several machines:
                 each copy's nonces are then disjoint; stored as KEYFILE.instance on first use,
                 a different stored number is refused, and so is a second copy with the same
                 number on this machine (default: the stored number, else 0)
--workers N|auto one process per core: a primary forks N workers (auto: one per core) that share
                 the port, each with its own vault, cookie keeper and registry reader; it restarts
                 a worker that dies (with a backoff), forwards SIGHUP, turns SIGINT/SIGTERM into a
                 drain of every worker and exits when all have; --metrics then serves their sum
Logs 'listening address=HOST:PORT forward=TARGET key=SHA256:...' on stderr when ready (with
--workers: each worker's line carries worker=K, and the primary's 'listening ... workers=N' comes
once all listen). A change to known_hosts (an edit, 'curvetun registry remove', SIGHUP) closes the
connections whose key it no longer allows from their address.

${SERVICE}

${COMMON}`,
  tunnel: `Usage: curvetun tunnel --listen HOST:PORT --to HOST:PORT [--server-key KEY|FILE]
                      [--timeout MS] [--protocol v1|v2] [--no-post-quantum] [service options]

Client end of a tunnel: each TCP connection to --listen is carried through curvetun to the
'curvetun serve' at --to. Without --server-key, its key is looked up in known_hosts by HOST, and
looked up again when known_hosts changes (or on SIGHUP): connections made with a key it no longer
names are closed.
--protocol v1|v2   the protocol version (default: the host's known_hosts line, @v1 -> v1, else v2;
                   never an automatic fallback)
--no-post-quantum  v2 without ML-KEM-768 (classical X25519 only)
--instance K       this copy's instance number (0-2047) when one client key runs on several
                   machines, as for serve (see curvetun serve --help)
Logs 'listening address=HOST:PORT to=TARGET server_key=SHA256:...' on stderr when ready.

${SERVICE}

${COMMON}`,
  agent: `Usage: curvetun agent --to HOST:PORT --allow PATTERN... [--server-key KEY|FILE]
                     [--timeout MS] [--dial-timeout SECONDS] [--protocol v1|v2] [--no-post-quantum]
                     [service options]

Agent mode, the end inside a private network: keeps one curvetun connection to the gateway at --to
(dialled again after any loss, with exponential backoff and jitter: 0.5 s doubling to 30 s) and
opens the TCP connections the gateway asks for, each a channel of that one connection.
--allow         the targets the gateway may ask for, checked before any connection attempt:
                an IP address, a CIDR network (10.0.0.0/8), a DNS name (db.internal), a domain
                (.internal: the name and every name under it) or '*' (anything). Repeatable;
                required. A name is resolved once and exactly the checked addresses are dialled.
                Ports are not part of a pattern.
--server-key    the gateway's key (default: known_hosts' key for HOST; reloaded with it)
--timeout       handshake deadline with the gateway, ms (default 10000)
--dial-timeout  deadline of each connection to a target, resolution included (default 10)
--protocol v1|v2   the protocol version (default: the gateway's known_hosts line, @v1 -> v1, else v2)
--no-post-quantum  v2 without ML-KEM-768 (classical X25519 only)
--max-connections is the number of channels open at once (more are refused as too many).
Over v2, --idle-timeout (e.g. 60) notices a gateway that went silent (it is pinged first) and
redials; TCP keepalive alone takes many minutes.
Logs 'connected to=HOST:PORT server_key=SHA256:...' once connected, and a line per channel:
channel_open (target, address dialled), channel_refused (target, reason: not-allowed,
connection-refused, timed-out, unreachable, too-many-channels, failed), channel_closed (bytes up
and down, duration, reason). On SIGINT/SIGTERM new channels are refused while open ones drain.

${SERVICE}

${COMMON}`,
  gateway: `Usage: curvetun gateway --listen HOST:PORT --expose LOCAL_HOST:PORT=AGENT:TARGET_HOST:PORT...
                       [--open-timeout SECONDS] [--protocols v1,v2] [--post-quantum require|on|off]
                       [service options]

Agent mode, the public end: agents whose key known_hosts allows connect to --listen; each TCP
connection to an exposed LOCAL_HOST:PORT becomes a channel through AGENT's connection to
TARGET_HOST:PORT (as the agent sees its network; its --allow decides). AGENT is the agent's key
(base64 or a .pub file), its fingerprint (SHA256:...) or its name: the first word of the comment
on its known_hosts line. When the agent is not connected, the local connection is reset at once.
--open-timeout  how long a local connection waits for the agent's answer (default 30)
--protocols LIST   versions accepted, comma-separated (default v1,v2; v1 only for @v1 lines)
--post-quantum require|on|off   v2's ML-KEM-768: demand it, accept both (default), or refuse it
--max-connections is the number of local connections carried at once, all ports together.
Logs 'listening address=HOST:PORT key=SHA256:...', one 'exposing' line per port, agent_connected
and agent_disconnected, refused (a key it does not serve), and a line per channel: channel_open,
channel_refused (reason: agent-not-connected, not-allowed, connection-refused, ...),
channel_closed (bytes up and down, duration, reason).

${SERVICE}

${COMMON}`,
};
HELP.cat = HELP.send!;
