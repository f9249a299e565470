// The PostgreSQL half of the store contract (test/store/support/store-contract.ts; test/store/store.test.ts runs
// its SQLite half), in the full tier because it starts a PostgreSQL server.
import { describeStore } from '../store/support/store-contract';
import { ADAPTERS } from '../support/store-adapters';

describeStore(ADAPTERS.find((adapter) => adapter.name === 'postgres')!);
