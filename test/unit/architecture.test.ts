// docs/architecture.md's table of rooms and their imports is the code's: measured from the import lines of
// src/, every room imports only rooms listed below it (the arrows point down), and the table says exactly which.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';

const ROOT = path.resolve(__dirname, '../../..');
const SRC = path.join(ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** `src/<room>/…` → `<room>/`; a file directly in src/ is its own room (`main.ts`). */
function roomOf(file: string): string {
  const [first, ...rest] = path.relative(SRC, file).split(path.sep);
  return rest.length > 0 ? `${first}/` : first!;
}

/** Every relative import, require and import() type of every source file, as room → rooms. */
function measuredImports(): Map<string, Set<string>> {
  const rooms = new Map<string, Set<string>>();
  for (const file of sources(SRC)) {
    const from = roomOf(file);
    const targets = rooms.get(from) ?? new Set<string>();
    rooms.set(from, targets);
    for (const match of readFileSync(file, 'utf8').matchAll(
      /(?:\bfrom|\brequire\(|\bimport\()\s*'(\.{1,2}\/[^']+)'/g,
    )) {
      const target = path.resolve(path.dirname(file), match[1]!);
      // `../store` is the folder's index.ts.
      const isFolder = existsSync(target) && statSync(target).isDirectory();
      const room = roomOf(isFolder ? path.join(target, 'index.ts') : `${target}.ts`);
      if (room !== from) targets.add(room);
    }
  }
  return rooms;
}

/** The table under "How the rooms depend on each other": `| \`room/\` | \`a/\`, \`b/\` |`, in its order. */
function documentedImports(): Array<[string, string[]]> {
  const page = readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');
  const section = page.slice(
    page.indexOf('## How the rooms depend on each other'),
    page.indexOf('## The flow of one delivery'),
  );
  return [...section.matchAll(/^\| `([^`]+)` \| (.*) \|$/gm)].map((row) => [
    row[1]!,
    [...row[2]!.matchAll(/`([^`]+)`/g)].map((name) => name[1]!),
  ]);
}

describe('docs/architecture.md: the rooms and their one-way arrows', () => {
  const measured = measuredImports();
  const documented = documentedImports();

  it('lists every room of src/ once, and no other', () => {
    expect(documented.map(([room]) => room).sort()).to.deep.equal([...measured.keys()].sort());
  });

  it("says exactly which rooms each room imports, as the code's import lines do", () => {
    for (const [room, imports] of documented)
      expect([...imports].sort(), room).to.deep.equal([...(measured.get(room) ?? [])].sort());
  });

  it('has every arrow point down: a room imports only rooms listed below it', () => {
    const order = documented.map(([room]) => room);
    const upward = documented.flatMap(([room, imports]) =>
      imports.filter((target) => order.indexOf(target) <= order.indexOf(room)).map((target) => `${room} → ${target}`),
    );
    expect(order.length).to.be.above(10);
    expect(upward).to.deep.equal([]);
  });
});
