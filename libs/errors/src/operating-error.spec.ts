import { isOperatingError, OperatingError } from './operating-error';

class BrokerDownError extends OperatingError {
  constructor(cause: unknown) {
    super('unavailable', 'cannot reach the broker; start it and try again.', { retriable: true, cause });
  }
}

describe('OperatingError', () => {
  it('carries its kind, message, retriable flag, details and cause', () => {
    const cause = new Error('ECONNREFUSED');
    const err = new BrokerDownError(cause);
    expect(err).toBeInstanceOf(Error);
    expect(err.kind).toBe('unavailable');
    expect(err.message).toBe('cannot reach the broker; start it and try again.');
    expect(err.retriable).toBe(true);
    expect(err.details).toEqual([]);
    expect(err.cause).toBe(cause);
    expect(err.name).toBe('BrokerDownError');
  });

  it('is not retriable and has no details unless told', () => {
    const err = new OperatingError('bad-input', 'x', { details: ['a: wrong'] });
    expect(err.retriable).toBe(false);
    expect(err.details).toEqual(['a: wrong']);
  });

  it('tells operating errors from bugs', () => {
    expect(isOperatingError(new BrokerDownError(null))).toBe(true);
    expect(isOperatingError(new Error('bug'))).toBe(false);
    expect(isOperatingError({ kind: 'unavailable', message: 'looks alike' })).toBe(false);
    expect(isOperatingError(undefined)).toBe(false);
  });
});
