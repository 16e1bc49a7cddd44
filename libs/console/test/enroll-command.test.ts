import { expect } from 'chai';
import { enrollCommand as consoleEnrollCommand } from '../src/enroll-command';
import { enrollCommand as serverEnrollCommand } from '@fleet/policy-dispatcher';

describe('console: enroll command', () => {
  it('is the command npm start prints, with the token in place of the token file', () => {
    for (const origin of ['http://127.0.0.1:8220', 'https://fleet.example.com:8220']) {
      const printed = serverEnrollCommand(origin, '/data/enrollment-token').replace('$(cat /data/enrollment-token)', 'tok3n==');
      expect(consoleEnrollCommand(origin, 'tok3n==')).to.equal(printed);
    }
  });

  it('needs --insecure over plain HTTP only', () => {
    expect(consoleEnrollCommand('http://h:1', 't')).to.equal('elastic-agent enroll --url=http://h:1 --enrollment-token=t --insecure');
    expect(consoleEnrollCommand('https://h:1', 't')).to.equal('elastic-agent enroll --url=https://h:1 --enrollment-token=t');
  });
});
