// A replay decides as the service would: a token bound to a portal releases only that portal's deliveries
// (else a replay would let one portal's token sign events as another's), and a portal_mismatch kept while the
// binding was wrong is released once it is corrected.
import { expect } from 'chai';
import { decideReplay } from '../../src/recover/replay-decision';
import { sha256Hex } from '../../src/secrets/scrub';
import type { QuarantinedDelivery } from '../../src/store/types';
import { createDigestMatcher } from '../../src/verify/verify';
import { APP_TOKEN } from '../support/bitrix-bodies';

const MEMBER = 'a223c6b3710f85df22e9377d6c4f7553';
const OTHER_MEMBER = 'd897063e1ce7c5eb9f04b9751eef5915';

function kept(reason: string): QuarantinedDelivery {
  return {
    id: '01KB0W7Z5X0000000000000000',
    receivedAt: new Date(0),
    status: 403,
    reason,
    diagnosis: reason,
    traceId: null,
    headerNames: [],
    headers: {},
    body: null,
    bodyTruncated: false,
    candidates: [{ source: 'body', location: 'auth[application_token]', digest: sha256Hex(APP_TOKEN) }],
    releasedAt: null,
    releasedEventId: null,
    releaseNote: null,
    event: 'ONTASKADD',
    eventHandlerId: undefined,
    ts: '1466439714',
    domain: 'some-domain.bitrix24.com',
    memberId: MEMBER,
  } as QuarantinedDelivery;
}

describe('quarantine replay and portal bindings', () => {
  it('does not release a delivery whose token is bound to another portal', () => {
    const tokens = [{ name: 'tasks', token: APP_TOKEN, portal: { memberId: OTHER_MEMBER } }];
    expect(decideReplay(kept('token_mismatch'), ['body'], createDigestMatcher(tokens), tokens)).to.deep.equal({
      action: 'portal_mismatch',
      webhook: 'tasks',
      detail: `token tasks is bound to member_id ${OTHER_MEMBER}; the delivery names "${MEMBER}"`,
    });
  });

  it('releases a portal_mismatch once the binding names its portal', () => {
    const tokens = [{ name: 'tasks', token: APP_TOKEN, portal: { memberId: MEMBER } }];
    expect(decideReplay(kept('portal_mismatch'), ['body'], createDigestMatcher(tokens), tokens)).to.deep.equal({
      action: 'release',
      webhook: 'tasks',
      source: 'body',
    });
  });
});
