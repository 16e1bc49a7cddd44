import { expect } from 'chai';
import { parseGoDuration } from '../src/index';

describe('Go durations (poll_timeout)', () => {
  it('When a duration is well formed, then it is read in milliseconds', () => {
    expect(parseGoDuration('35m0s')).to.equal(2_100_000);
    expect(parseGoDuration('1.5h')).to.equal(5_400_000);
    expect(parseGoDuration('-2m')).to.equal(-120_000);
    expect(parseGoDuration('0')).to.equal(0);
  });

  it("When a duration is within Go's int64 nanoseconds, then it is accepted up to the last one", () => {
    expect(parseGoDuration('2562047h')).to.equal(2_562_047 * 3_600_000);
    expect(parseGoDuration('-2562047h')).to.equal(-2_562_047 * 3_600_000);
  });

  // Found by the go-duration fuzz target: Go's ParseDuration refuses these ("invalid duration").
  it("When a duration is past Go's range, then it is refused, as Go refuses it", () => {
    expect(parseGoDuration('2562048h')).to.equal(undefined);
    expect(parseGoDuration('666666666661h')).to.equal(undefined);
    expect(parseGoDuration('444444444444444444442h2h3s5s')).to.equal(undefined);
    expect(parseGoDuration(`-${'9'.repeat(72)}h`)).to.equal(undefined);
  });
});
