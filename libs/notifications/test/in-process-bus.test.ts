import { InProcessBus } from '@fleet/notifications';
import { defineBusContract } from './bus-contract';

defineBusContract('in-process', ({ policyDebounceMs }) => {
  const bus = new InProcessBus({ policyDebounceMs });
  return Promise.resolve({ a: bus, b: bus });
});
