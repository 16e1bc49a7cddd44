import { expect } from 'chai';
import { goJson, permissionsHash } from '../src/output-keys';

describe('Output permissions hash', function () {
  const role = {
    _elastic_agent_monitoring: { indices: [{ names: ['logs-elastic_agent-default'], privileges: ['auto_configure', 'create_doc'] }] },
    _elastic_agent_checks: { cluster: ['monitor'] },
    'x<&>': { note: 'a<b>&c\u2028' },
  };

  it("When a role is hashed, then the encoding and digest equal Go's encoding/json Encoder output (vector made with Go 1.26)", () => {
    expect(goJson(role)).to.equal(
      '{"_elastic_agent_checks":{"cluster":["monitor"]},"_elastic_agent_monitoring":{"indices":[{"names":["logs-elastic_agent-default"],"privileges":["auto_configure","create_doc"]}]},"x\\u003c\\u0026\\u003e":{"note":"a\\u003cb\\u003e\\u0026c\\u2028"}}\n',
    );
    expect(permissionsHash(role)).to.equal('3aeacaa05675618625b96b5c89f704f7c42271713b338e2fac03a2730dd7a3b1');
  });

  it('When key order differs, then the hash is the same; when a privilege changes, it differs', () => {
    const reordered = { _elastic_agent_checks: { cluster: ['monitor'] }, 'x<&>': { note: 'a<b>&c\u2028' }, _elastic_agent_monitoring: role._elastic_agent_monitoring };
    expect(permissionsHash(reordered)).to.equal(permissionsHash(role));
    expect(permissionsHash({ ...role, _elastic_agent_checks: { cluster: ['monitor', 'manage'] } })).to.not.equal(permissionsHash(role));
  });
});
