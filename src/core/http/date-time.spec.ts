import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { DATE_TIME_RANGE_MESSAGE, IsDateTime, readDateTime } from './date-time';

describe('readDateTime', () => {
  it.each([
    ['2025-03-01T14:30:00Z', '2025-03-01T14:30:00Z'],
    ['2025-03-01T14:30Z', '2025-03-01T14:30:00Z'],
    ['2025-03-01T14:30:00.5Z', '2025-03-01T14:30:00.5Z'],
    ['2025-03-01T14:30:00.123456+02:00', '2025-03-01T12:30:00.123456Z'],
    // More digits than PostgreSQL keeps are cut, never rounded up into the next second (or year).
    ['9999-12-31T23:59:59.9999999Z', '9999-12-31T23:59:59.999999Z'],
    ['2025-03-01T14:30:00+0200', '2025-03-01T12:30:00Z'],
    // Offsets PostgreSQL refuses (past ±15:59) reach it as UTC.
    ['2025-01-01T10:00:00+23:59', '2024-12-31T10:01:00Z'],
    ['2025-01-01T10:00:00-23:59', '2025-01-02T09:59:00Z'],
    // The ends of the range, in UTC.
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00Z'],
    ['0001-01-01T00:00:00-01:00', '0001-01-01T01:00:00Z'],
    ['0000-12-31T23:00:00-01:00', '0001-01-01T00:00:00Z'],
    ['9999-12-31T23:59:59.999999Z', '9999-12-31T23:59:59.999999Z'],
  ])('takes %p as %p', (input, expected) => {
    expect(readDateTime(input)).toEqual({ value: expected });
  });

  it('leaves years below 100 alone (Date.UTC would make 0050 into 1950)', () => {
    expect(readDateTime('0050-06-01T12:00:00+01:00')).toEqual({ value: '0050-06-01T11:00:00Z' });
  });

  it.each([
    '9999-12-31T23:59:59-12:00',
    '9999-12-31T23:30:00-01:00',
    '0001-01-01T00:00:00+01:00',
    '0000-06-01T12:00:00Z',
  ])('refuses %p: its UTC instant is outside the years 0001 to 9999', (input) => {
    expect(readDateTime(input)).toEqual({ error: 'range' });
  });

  it.each([
    'yesterday',
    '',
    '+010000-01-01T00:00:00Z',
    '2025-02-30T10:00:00Z',
    '2023-02-29T10:00:00Z',
    '2025-13-01T10:00:00Z',
    '2025-00-01T10:00:00Z',
    '2025-01-00T10:00:00Z',
    '2025-01-01T24:00:00Z',
    '2025-01-01T10:60:00Z',
    '2025-01-01T10:00:60Z',
    '2025-01-01T10:00:00+24:00',
    '2025-01-01T10:00:00+10:60',
    '2025-01-01T10:00:00+1',
    '2025-01-01 10:00:00Z',
    '2025-01-01T10:00:00z',
    '2025-01-01T10Z',
    '2025-01-01T10:00:00.Z',
    // Past nanoseconds: PostgreSQL would refuse the text (it reads at most 128 characters).
    '2025-01-01T10:00:00.1234567890Z',
    `2025-01-01T10:00:00.${'1'.repeat(300)}Z`,
    '03/01/2025',
  ])('refuses %p as no date-time', (input) => {
    expect(readDateTime(input)).toEqual({ error: 'form' });
  });

  it('takes a bare date or a local time only where asked to, as written', () => {
    expect(readDateTime('2025-03-01')).toEqual({ error: 'form' });
    expect(readDateTime('2025-03-01T10:00')).toEqual({ error: 'form' });
    expect(readDateTime('2025-03-01', { date: true })).toEqual({ value: '2025-03-01' });
    expect(readDateTime('2025-03-01T10:00', { localTime: true })).toEqual({ value: '2025-03-01T10:00' });
    expect(readDateTime('2025-02-29', { date: true })).toEqual({ error: 'form' });
    expect(readDateTime('0000-12-31', { date: true })).toEqual({ error: 'range' });
    expect(readDateTime('9999-12-31T23:59:59', { localTime: true })).toEqual({ value: '9999-12-31T23:59:59' });
    // Cut to microseconds like the other forms, so the last instant of 9999 stays in it.
    expect(readDateTime('9999-12-31T23:59:59.999999999', { localTime: true })).toEqual({ value: '9999-12-31T23:59:59.999999' });
  });
});

describe('IsDateTime', () => {
  class Input {
    @IsDateTime('must be a date-time')
    at: string;
  }
  const check = (at: unknown) => {
    const input = plainToInstance(Input, { at });
    return { at: input.at, errors: validateSync(input).flatMap((error) => Object.values(error.constraints ?? {})) };
  };

  it('hands on the UTC instant of a date-time with an offset', () => {
    expect(check('2025-01-01T10:00:00+23:59')).toEqual({ at: '2024-12-31T10:01:00Z', errors: [] });
  });

  it('says what is wrong: the form, or the range', () => {
    expect(check('2025-01-01T10:00:00+24:00').errors).toEqual(['must be a date-time']);
    expect(check(20250101).errors).toEqual(['must be a date-time']);
    expect(check('9999-12-31T23:59:59-12:00').errors).toEqual([DATE_TIME_RANGE_MESSAGE]);
    expect(DATE_TIME_RANGE_MESSAGE).toBe('must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z (in UTC)');
  });
});
