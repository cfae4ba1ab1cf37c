// Hand-offs between hosts: a VM a host hands off (stop-and-copy done) in epoch e is applied by
// its destination at the start of e + 1, before anything else happens there. When several
// arrive in the same epoch they are applied in the canonical message order (sent epoch, source
// node, seq), whatever order the transport delivered them in, so placement never changes results.
import type { VmTransferOut } from '@vpmu/host';
import { compareMessageKeys, type MessageKey } from '@vpmu/sim';

/** A VM transfer with the key of the message that carried it. */
export interface InboundTransfer {
  key: MessageKey;
  transfer: VmTransferOut;
}

/** The transfers in the order the destination applies them (a new array; the input is left as is). */
export function orderInboundTransfers(inbound: readonly InboundTransfer[]): VmTransferOut[] {
  return inbound
    .slice()
    .sort((a, b) => compareMessageKeys(a.key, b.key))
    .map((i) => i.transfer);
}
