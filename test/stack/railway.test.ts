// Railway's config as code: the Dockerfile builder, the readiness probe as its healthcheck, a restart policy,
// and a draining time (SIGTERM to SIGKILL) longer than the service's default drain.
import { expect } from './expect';
import { readText } from './repo';

describe('stack: railway.json', () => {
  const config = JSON.parse(readText('railway.json'));

  it('builds the Dockerfile, checks /readyz before switching traffic, restarts on failure', () => {
    expect(config.build).to.deep.equal({ builder: 'DOCKERFILE', dockerfilePath: 'Dockerfile' });
    expect(config.deploy).to.deep.include({ healthcheckPath: '/readyz', restartPolicyType: 'ON_FAILURE' });
    expect(config.deploy.restartPolicyMaxRetries).to.be.a('number').and.greaterThan(0);
    expect(config.deploy.healthcheckTimeout).to.be.a('number');
  });

  it('gives the old deployment more time after SIGTERM than SHUTDOWN_DRAIN_SECONDS (default 5) plus the request timeout', () => {
    // A number: Railway's parser rejects the string form.
    expect(config.deploy.drainingSeconds).to.be.a('number').and.at.least(15);
  });
});
