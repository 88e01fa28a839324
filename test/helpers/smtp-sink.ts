import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
}

/**
 * A real SMTP server (the `smtp-server` package) on a free port that keeps what it receives.
 * `beforeAccept` holds the answer to DATA until it resolves (a slow provider, mid-send);
 * `rejectRecipient` answers RCPT TO with a 550 and the returned text (a bad address).
 */
export async function startSmtpSink(
  options: {
    beforeAccept?: (mail: ReceivedMail) => Promise<void>;
    rejectRecipient?: (address: string) => string | null;
  } = {},
): Promise<{
  url: string;
  received: ReceivedMail[];
  close(): Promise<void>;
}> {
  const received: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onRcptTo(address, _session, callback) {
      const rejection = options.rejectRecipient?.(address.address) ?? null;
      if (rejection === null) return callback();
      return callback(Object.assign(new Error(rejection), { responseCode: 550 }));
    },
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
      stream.on('end', () => {
        const mail = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
        };
        const accept = (): void => {
          received.push(mail);
          callback();
        };
        if (options.beforeAccept) void options.beforeAccept(mail).then(accept, callback);
        else accept();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
