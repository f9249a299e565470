// The PostgreSQL half of the store contract (test/store/support/store-contract.ts; test/store/store.test.ts runs
// its SQLite half), in the full tier because it starts a PostgreSQL server.
import { ADAPTERS, describeStore } from '../store/support/store-contract';

describeStore(ADAPTERS.find((adapter) => adapter.name === 'postgres')!);
