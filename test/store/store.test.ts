// The store contract (support/store-contract.ts) against SQLite, and STORE=none. Its PostgreSQL half runs in
// the full tier: test/process/store-postgres.test.ts.
import { expect } from 'chai';
import { parseStoreConfig } from '../../src/store/config';
import { openStore } from '../../src/store/open';
import { ADAPTERS } from '../support/store-adapters';
import { accepted, describeStore, ID, refused } from './support/store-contract';

describeStore(ADAPTERS.find((adapter) => adapter.name === 'sqlite')!);

describe('store (STORE=none)', () => {
  it('accepts every write and keeps nothing', async () => {
    const store = await openStore(parseStoreConfig({ STORE: 'none' }), { bodyLimitBytes: 1024 });
    expect(store.kind).to.equal('none');
    expect(await store.saveAccepted(accepted())).to.match(ID);
    expect(await store.quarantine(refused())).to.match(ID);
    expect(await store.listEvents()).to.deep.equal([]);
    expect(await store.listQuarantine()).to.deep.equal([]);
    expect(await store.quarantineSize()).to.equal(0);
    expect(await store.claimDue('a', 1000, 10)).to.deep.equal([]);
    await store.close();
  });
});
