import { isEmail } from 'class-validator';

/** A phone number as people type it: digits with spaces, + ( ) . / -, at least one digit. */
export const PHONE_PATTERN = /^(?=.*\d)[+0-9 ()./-]{3,50}$/;
export const PHONE_MESSAGE = 'must be a phone number (digits, spaces, + ( ) . / -)';

/**
 * An email address as every route checks it (`@IsEmail()`), for values that do not come
 * through a DTO (CSV cells, custom field values): one rule, wherever an address is written.
 */
export function isEmailAddress(text: string): boolean {
  return isEmail(text);
}
