// The PostgreSQL half of the store contract (test/store/store.test.ts), in the full tier because it starts a
// PostgreSQL server. Importing that file also registers its SQLite half; in `npm run test:all` it is loaded once.
import { ADAPTERS, describeStore } from '../store/store.test';

describeStore(ADAPTERS.find((adapter) => adapter.name === 'postgres')!);
