// The PostgreSQL half of test/store/accepted-insert.test.ts, in the full tier because it starts a PostgreSQL
// server. Importing that file also registers its SQLite half (and the store suite's).
import { ADAPTERS } from '../support/store-adapters';
import { describeAcceptedInsert } from '../store/accepted-insert.test';

describeAcceptedInsert(ADAPTERS.find((adapter) => adapter.name === 'postgres')!);
