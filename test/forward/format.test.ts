import { expect } from 'chai';
import { formatEvent, FormatError } from '../../src/forward/format';
import type { StoredEvent } from '../../src/store/types';
import { scrubBody } from '../../src/secrets/scrub';
import { CRM_DEAL_ADD, WEBHOOK_TOKEN } from '../support/bitrix-bodies';

const NEW_TOKEN = 'n3wt0ken000000000000000000000001';

function stored(overrides: Partial<StoredEvent> = {}): StoredEvent {
  return {
    id: '01KB0W7Z5X0000000000000000',
    receivedAt: new Date(Date.UTC(2026, 0, 10, 12, 0, 0, 250)),
    traceId: '0af7651916cd43dd8448eb211c80319c',
    webhook: 'crm',
    event: 'ONCRMDEALADD',
    eventHandlerId: '975',
    ts: '1766047124',
    domain: 'some-domain.bitrix24.com',
    memberId: 'd897063e1ce7c5eb9f04b9751eef5915',
    data: { FIELDS: { ID: '7405' } },
    body: scrubBody(CRM_DEAL_ADD).body,
    contentType: 'application/x-www-form-urlencoded',
    status: 'pending',
    attempts: 0,
    nextAttemptAt: new Date(0),
    leaseOwner: null,
    leaseUntil: null,
    lastError: null,
    deliveredAt: null,
    quarantineId: null,
    ...overrides,
  };
}

describe('forward: formats', () => {
  it('json: the event facts, exactly, and no token', () => {
    const { body, contentType } = formatEvent(stored(), 'json', [{ name: 'crm', token: WEBHOOK_TOKEN }]);
    expect(contentType).to.equal('application/json');
    expect(JSON.parse(body)).to.deep.equal({
      id: '01KB0W7Z5X0000000000000000',
      webhook: 'crm',
      event: 'ONCRMDEALADD',
      event_handler_id: '975',
      ts: '1766047124',
      portal: { domain: 'some-domain.bitrix24.com', member_id: 'd897063e1ce7c5eb9f04b9751eef5915', verified: false },
      data: { FIELDS: { ID: '7405' } },
      received_at: '2026-01-10T12:00:00.250Z',
    });
  });

  it('json: portal.verified only when the token name is bound to the portal the event names', () => {
    const portalOf = (portal: { memberId?: string; domain?: string }) =>
      (
        JSON.parse(formatEvent(stored(), 'json', [{ name: 'crm', token: WEBHOOK_TOKEN, portal }]).body) as {
          portal: unknown;
        }
      ).portal;
    expect(portalOf({ memberId: 'd897063e1ce7c5eb9f04b9751eef5915' })).to.deep.equal({
      domain: 'some-domain.bitrix24.com',
      member_id: 'd897063e1ce7c5eb9f04b9751eef5915',
      verified: true,
    });
    expect(portalOf({ domain: 'some-domain.bitrix24.com' })).to.deep.include({ verified: true });
    // Bound to another portal since it was accepted (the binding changed): not verified.
    expect(portalOf({ memberId: 'a223c6b3710f85df22e9377d6c4f7553' })).to.deep.include({ verified: false });
  });

  it('bitrix24: the original form body byte for byte, token put back from the configuration', () => {
    const { body, contentType } = formatEvent(stored(), 'bitrix24', [{ name: 'crm', token: WEBHOOK_TOKEN }]);
    expect(contentType).to.equal('application/x-www-form-urlencoded');
    expect(body).to.equal(CRM_DEAL_ADD);
  });

  it("bitrix24 during a rotation: the newest (last) token of the name, never another name's", () => {
    const tokens = [
      { name: 'other', token: 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz' },
      { name: 'crm', token: WEBHOOK_TOKEN },
      { name: 'crm', token: NEW_TOKEN },
    ];
    const { body } = formatEvent(stored(), 'bitrix24', tokens);
    expect(body).to.equal(CRM_DEAL_ADD.replace(WEBHOOK_TOKEN, NEW_TOKEN));
  });

  it('bitrix24 without a configured token for the name, or without a stored body: a FormatError (dead letter)', () => {
    expect(() => formatEvent(stored(), 'bitrix24', [{ name: 'tasks', token: WEBHOOK_TOKEN }])).to.throw(
      FormatError,
      'no token is configured for webhook name crm',
    );
    expect(() => formatEvent(stored({ body: null }), 'bitrix24', [{ name: 'crm', token: WEBHOOK_TOKEN }])).to.throw(
      FormatError,
      'no original body',
    );
  });
});
