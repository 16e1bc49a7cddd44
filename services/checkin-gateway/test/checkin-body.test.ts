import { expect } from 'chai';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { checkCheckinBody, checkinBodySchema, fastCheckinBody } from '../src/checkin-body';

/** Values a field may hold in a hostile or odd body: right and wrong types, null, long strings. */
const anyValue = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.string({ maxLength: 8 }),
  fc.constantFrom('online', 'DEGRADED', 'Error', 'offline', ''),
  fc.string({ minLength: 60, maxLength: 70 }),
  fc.integer({ min: -3, max: 3 }),
  fc.double(),
  fc.boolean(),
  fc.constant([]),
  fc.dictionary(fc.constantFrom('host', 'os', 'elastic', 'x'), fc.oneof(fc.constant(null), fc.string({ maxLength: 3 }), fc.constant({}))),
);
/** Mostly a right value, sometimes anything. */
const mostly = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 8, arbitrary: good }, { weight: 1, arbitrary: anyValue });
const text = fc.string({ maxLength: 6 });
const object = fc.dictionary(fc.constantFrom('a', 'b'), fc.oneof(fc.constant(null), fc.integer(), text));
const unitArb = fc.record(
  { id: mostly(text), type: mostly(text), status: mostly(text), message: mostly(text), payload: mostly(object), extra: anyValue },
  { requiredKeys: [] },
);
const componentArb = fc.record(
  { id: mostly(text), type: mostly(text), status: mostly(text), message: mostly(text), units: mostly(fc.array(mostly(unitArb), { maxLength: 3 })) },
  { requiredKeys: [] },
);
const bodyArb = fc.record(
  {
    status: mostly(fc.constantFrom('online', 'DEGRADED', 'Error', 'starting')),
    message: mostly(text),
    ack_token: mostly(text),
    local_metadata: mostly(fc.record({ host: mostly(object), os: mostly(object), elastic: mostly(object), other: anyValue }, { requiredKeys: [] })),
    components: mostly(fc.array(mostly(componentArb), { maxLength: 3 })),
    poll_timeout: mostly(text),
    agent_policy_id: mostly(text),
    policy_revision_idx: mostly(fc.integer({ min: -2, max: 100 })),
    upgrade_details: fc.oneof(fc.constant(undefined), anyValue),
    unknown_field: anyValue,
  },
  { requiredKeys: [] },
);

/** JSON never carries `undefined`: bodies are what JSON.parse would give. */
const asParsed = (v: unknown): Record<string, unknown> => JSON.parse(JSON.stringify(v)) as Record<string, unknown>;

describe('Checkin body: the fast check against the schema', function () {
  it('When the fast check accepts a body, then the schema accepts it too and returns the same value (property)', function () {
    let fast = 0;
    fc.assert(
      fc.property(bodyArb, (raw) => {
        const body = asParsed(raw);
        const quick = fastCheckinBody(body);
        if (quick === undefined) return;
        fast += 1;
        const slow = checkinBodySchema.safeParse(body);
        expect(slow.success, JSON.stringify(body)).to.equal(true);
        expect(isDeepStrictEqual(quick, slow.data), JSON.stringify({ body, quick, slow: slow.data })).to.equal(true);
      }),
      { numRuns: 3_000 },
    );
    expect(fast).to.be.above(0);
  });

  it("When a stock agent's steady checkin arrives, then the fast check takes it, with the schema's value", function () {
    const body = asParsed({
      status: 'online',
      message: 'Running',
      ack_token: 'token-1',
      poll_timeout: '5m0s',
      agent_policy_id: 'policy-1',
      policy_revision_idx: 3,
      local_metadata: { elastic: { agent: { version: '8.15.0' } }, host: { hostname: 'h' }, os: { family: 'linux' } },
      components: [
        { id: 'log-default', type: 'log', status: 'HEALTHY', message: 'ok', units: [{ id: 'u1', type: 'input', status: 'HEALTHY', message: 'ok', payload: { a: 1 } }] },
        { id: 'monitoring', type: 'beat', status: 'HEALTHY' },
      ],
      features: { fqdn: true },
    });
    const quick = fastCheckinBody(body);
    expect(quick).to.not.equal(undefined);
    expect(quick).to.deep.equal(checkinBodySchema.parse(body));
    expect(quick).to.not.have.property('features');
  });

  it('When a body is refused, then the schema names the field, as before', function () {
    expect(() => checkCheckinBody({ status: 'sleeping', message: '' })).to.throw(/status: must be one of/);
    expect(() => checkCheckinBody({ status: 'online', local_metadata: { host: 'h' } })).to.throw(/local_metadata.host: must be an object/);
    expect(checkCheckinBody({ status: 'online', message: null, ack_token: null })).to.deep.equal(checkinBodySchema.parse({ status: 'online', message: null, ack_token: null }));
  });
});
