// gateway/json-numbers.ts: integer fields read as written in the JSON text — which number
// literals count (the direct values of the named top-level fields), which do not (other fields,
// nested values, strings, keys that only look alike), and how escaped keys are read.

import { describe, expect, it } from 'vitest';
import { inexactInteger, inexactIntegerMessage } from '../../gateway/json-numbers.js';

const FIELDS = new Set(['price', 'quantity']);
const check = (text: string) => {
  JSON.parse(text); // the function is only ever given text JSON.parse accepted
  return inexactInteger(text, FIELDS);
};

describe('inexactInteger', () => {
  it('finds a fraction, an exponent or a sign in the named fields, whatever the spacing', () => {
    expect(check('{"price":4700000.0}')).toEqual({ field: 'price', literal: '4700000.0', why: 'a fraction' });
    expect(check('{ "price" : 4.7e6 }')).toEqual({ field: 'price', literal: '4.7e6', why: 'an exponent' });
    expect(check('{"symbol":"X",\n  "quantity":\t1E2}')).toEqual({
      field: 'quantity',
      literal: '1E2',
      why: 'an exponent',
    });
    expect(check('{"quantity":-0.0}')).toEqual({ field: 'quantity', literal: '-0.0', why: 'a sign' });
    expect(check('{"quantity":-5}')).toEqual({ field: 'quantity', literal: '-5', why: 'a sign' });
    expect(check('{"pr\\u0069ce":1.5}')).toEqual({ field: 'price', literal: '1.5', why: 'a fraction' });
    expect(check('{"price":1,"quantity":2.50}')?.field).toBe('quantity');
  });

  it('leaves plain digits, strings, other fields, nested values and look-alike keys alone', () => {
    for (const text of [
      '{"price":4700000,"quantity":10}',
      '{"price":"4.7e6"}',
      '{"expire":1.5,"price":3}',
      '{"a":{"price":1.5},"price":3}',
      '{"a":[1.5,{"quantity":2e3}],"quantity":3}',
      '{"x":"\\"price\\":1.5","price":10}',
      '{"pri\\"ce":1.5}',
      '{"price":true,"quantity":null}',
      '[{"price":1.5}]',
      '1.5',
    ])
      expect(check(text), text).toBeUndefined();
  });

  it('a duplicate key is checked at each occurrence (JSON.parse keeps the last)', () => {
    expect(check('{"price":1.0,"price":1}')).toEqual({ field: 'price', literal: '1.0', why: 'a fraction' });
  });

  it('the message names the field and what was written, shortened past 40 characters', () => {
    const long = `1${'0'.repeat(60)}.5`;
    const x = check(`{"price":${long}}`)!;
    expect(x.literal).toBe(`${long.slice(0, 40)}…`);
    expect(inexactIntegerMessage(check('{"price":4.7e6}')!)).toBe(
      'price must be an integer from 0 to 2^53−1 in plain digits: 4.7e6 has an exponent',
    );
  });
});
