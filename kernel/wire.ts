/** Jupyter messaging wire protocol (v5.3): framing and HMAC signing. */
import { createHmac, randomUUID } from 'node:crypto';

export const PROTOCOL_VERSION = '5.3';
const DELIMITER = Buffer.from('<IDS|MSG>');

export interface MessageHeader {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
}

export interface JupyterMessage<Content = Record<string, unknown>> {
  identities: Buffer[];
  header: MessageHeader;
  parent_header: Partial<MessageHeader>;
  metadata: Record<string, unknown>;
  content: Content;
  buffers: Buffer[];
}

export interface ConnectionInfo {
  transport: string;
  ip: string;
  key: string;
  signature_scheme: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
}

export class MessageSigner {
  private readonly algorithm: string | null;

  constructor(private readonly key: string, scheme: string) {
    if (!key) {
      this.algorithm = null;
      return;
    }
    const match = /^hmac-(\w+)$/.exec(scheme || 'hmac-sha256');
    if (!match) {
      throw new Error(`connection file: unsupported signature_scheme ${JSON.stringify(scheme)}`);
    }
    this.algorithm = match[1];
  }

  sign(parts: (string | Buffer)[]): string {
    if (!this.algorithm) return '';
    const hmac = createHmac(this.algorithm, this.key);
    for (const part of parts) hmac.update(part);
    return hmac.digest('hex');
  }
}

/** Parses the frames of one message received on a ROUTER socket. */
export function parseMessage(frames: Buffer[], signer: MessageSigner): JupyterMessage {
  const delimiterIndex = frames.findIndex((f) => f.equals(DELIMITER));
  if (delimiterIndex < 0) throw new Error('message without <IDS|MSG> delimiter');
  const signature = frames[delimiterIndex + 1].toString();
  const parts = frames.slice(delimiterIndex + 2, delimiterIndex + 6);
  if (parts.length !== 4) throw new Error('message with fewer than 4 JSON parts');
  const expected = signer.sign(parts);
  if (expected !== signature) throw new Error('message with an invalid HMAC signature');
  const [header, parent, metadata, content] = parts.map((p) => JSON.parse(p.toString()));
  return {
    identities: frames.slice(0, delimiterIndex),
    header,
    parent_header: parent,
    metadata,
    content,
    buffers: frames.slice(delimiterIndex + 6),
  };
}

/** Builds a message that answers or is caused by `parent`. */
export function childMessage<C>(
  parent: JupyterMessage<unknown> | null,
  msgType: string,
  content: C,
  session: string,
): JupyterMessage<C> {
  return {
    identities: parent ? parent.identities : [],
    header: {
      msg_id: randomUUID(),
      msg_type: msgType,
      session,
      username: parent?.header.username ?? 'kernel',
      date: new Date().toISOString(),
      version: PROTOCOL_VERSION,
    },
    parent_header: parent ? parent.header : {},
    metadata: {},
    content,
    buffers: [],
  };
}

/** Serialises `message` to frames; `identities` are used as the routing prefix. */
export function serializeMessage(
  message: JupyterMessage<unknown>,
  signer: MessageSigner,
  identities: Buffer[],
): (string | Buffer)[] {
  const parts = [
    JSON.stringify(message.header),
    JSON.stringify(message.parent_header),
    JSON.stringify(message.metadata),
    JSON.stringify(message.content),
  ];
  return [...identities, DELIMITER, signer.sign(parts), ...parts, ...message.buffers];
}
