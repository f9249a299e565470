// Issue #16, item 8: a FORWARD_URL or FORWARD_URLS entry with user:password@ is refused at start-up (exit 2),
// naming the variable and never echoing the value; `doctor` says the same.
import { expect } from 'chai';
import { runCli } from '../cli/run-cli';
import { spawnService } from '../support/spawn-service';

const TOKEN = 'jvh9y1ulvt2m6k5or90v9mg8nn32ozas';
const PASSWORD = 'pa55w0rd-hunter2';
const BASE = {
  BITRIX24_OUTGOING_WEBHOOK_TOKEN: TOKEN,
  FORWARD_SIGNING_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
};

describe('credentials in FORWARD_URL / FORWARD_URLS', function () {
  this.timeout(60_000);
  for (const [variable, value, named] of [
    ['FORWARD_URL', `https://app:${PASSWORD}@app.example.com/hooks?key=q5ecret`, 'FORWARD_URL'],
    ['FORWARD_URLS', `crm=https://app:${PASSWORD}@crm.example.com/hooks`, 'FORWARD_URLS entry 1 (crm)'],
  ] as const) {
    it(`${variable}: exit 2 at start-up, the variable named, the password never shown`, async () => {
      const stopped = await spawnService({ env: { ...BASE, [variable]: value }, expectExit: true });
      expect(stopped.process.exitCode).to.equal(2);
      const errors = stopped.logs.filter((entry) => entry.level === 'error');
      expect(errors.map((entry) => entry.message)).to.deep.equal([
        `configuration error: ${named}: holds a user name or password (user:password@), which is never sent; pass the credential as a query parameter or path segment instead (both redacted in logs); the value is not shown`,
      ]);
      expect(stopped.stdout() + stopped.stderr())
        .to.not.include(PASSWORD)
        .and.not.include('q5ecret');
      const doctor = await runCli(['doctor'], { ...BASE, [variable]: value });
      expect(doctor.code).to.equal(2);
      expect(doctor.stdout + doctor.stderr)
        .to.include('user:password@')
        .and.not.include(PASSWORD);
    });
  }
});
