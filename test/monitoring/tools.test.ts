// The test run obtains its own tools (issue 9 §4); where it cannot, it fails with one instruction.
import { expect } from 'chai';
import {
  ALL_TOOLS,
  findBinary,
  installCommand,
  installMissing,
  needsTools,
  type InstallEnvironment,
} from './support/tools';

function fakeEnvironment(uid: number, present: string[]): InstallEnvironment & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    uid,
    calls,
    find: (name) => (present.includes(name) ? `/usr/bin/${name}` : undefined),
    run: (command, args) => {
      calls.push([command, ...args]);
      return { status: 100, output: 'E: boom' };
    },
  };
}

describe('test tools (promtool, prometheus, amtool, docker-compose, yamllint)', () => {
  needsTools();

  it('are all on PATH after the run obtained them', () => {
    for (const tool of ALL_TOOLS) expect(findBinary(tool), tool).to.be.a('string');
  });

  it('does nothing when every tool is present', () => {
    const env = fakeEnvironment(0, [...ALL_TOOLS]);
    installMissing(ALL_TOOLS, env);
    expect(env.calls).to.deep.equal([]);
  });

  it('refuses with the one instruction when not root', () => {
    const env = fakeEnvironment(1000, ['apt-get', 'flock']);
    expect(() => installMissing(['promtool'], env)).to.throw(
      `The tests need promtool, which is not installed. Run once, as root: ${installCommand()} (the test run installs them itself only when it runs as root).`,
    );
    expect(env.calls).to.deep.equal([]);
  });

  it('refuses with the one instruction when apt-get is missing', () => {
    const env = fakeEnvironment(0, ['flock']);
    expect(() => installMissing(['promtool', 'yamllint'], env)).to.throw(
      /^The tests need promtool, yamllint, which are not installed\. Run once, as root: apt-get update && apt-get install -y --no-install-recommends prometheus prometheus-alertmanager docker-compose yamllint \(apt-get is not available here/,
    );
  });

  it('installs under a machine-wide lock, re-checking inside it, and reports a failed install', () => {
    const env = fakeEnvironment(0, ['apt-get', 'flock']);
    expect(() => installMissing(['amtool'], env)).to.throw(
      /automatic install failed with status 100; last output: E: boom/,
    );
    expect(env.calls).to.have.length(1);
    const [command, ...args] = env.calls[0]!;
    expect([command, ...args.slice(0, 4)]).to.deep.equal([
      'flock',
      '-w',
      '900',
      '/tmp/bitrix24-webhook-guard-test-tools.lock',
      'sh',
    ]);
    expect(args[5]).to.equal(
      `for t in amtool; do command -v "$t" >/dev/null || { ${installCommand()} -o DPkg::Lock::Timeout=600; exit $?; }; done`,
    );
  });
});
