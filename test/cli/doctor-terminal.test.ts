// Issue #16, item 6: doctor prints what a remote server answered escaped for the terminal: a hostile
// answer's ESC/OSC/C1 bytes cannot act on the operator's terminal.
import { expect } from 'chai';
import { LoopbackHttpServer } from '../support/loopback-http';
import { runCli } from './run-cli';

const TOKEN = 'jvh9y1ulvt2m6k5or90v9mg8nn32ozas';

describe('doctor --url against a hostile answer', function () {
  this.timeout(30_000);
  let stub: LoopbackHttpServer;
  before(async () => {
    stub = new LoopbackHttpServer((_request, _body, response) =>
      response
        .writeHead(401, { 'content-type': 'application/json' })
        .end(
          JSON.stringify({ status: 'rejected', reason: '\x1b]0;pwned\x07\x1b]52;c;aGk=\x07\x9b2J\r\n  ok    fake' }),
        ),
    );
    await stub.start();
  });
  after(() => stub.stop());

  it('escapes C0, C1 and DEL in the answer it quotes; --json stays exact', async () => {
    const url = `${stub.url}/api/bitrix/webhook`;
    const result = await runCli(['doctor', '--url', url], { BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN });
    expect(result.code).to.equal(1);
    expect(result.stdout).to.not.match(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    expect(result.stdout).to.include('got 401 \\x1b]0;pwned\\x07\\x1b]52;c;aGk=\\x07\\x9b2J\\x0d\\x0a  ok    fake');
    // No faked line: the text after the client's CR LF stays on the line that quotes it.
    expect(result.stdout.split('\n').filter((line) => line.startsWith('  ok    fake'))).to.deep.equal([]);
    const json = await runCli(['doctor', '--url', url, '--json'], { BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN });
    const report = JSON.parse(json.stdout) as { self_test: { deliveries: Array<{ got: { reason: string } }> } };
    expect(report.self_test.deliveries[0]!.got.reason).to.equal(
      '\x1b]0;pwned\x07\x1b]52;c;aGk=\x07\x9b2J\r\n  ok    fake',
    );
  });
});
