import { isEmail } from 'class-validator';

/** A phone number as people type it: digits with spaces, + ( ) . / -, at least one digit. */
export const PHONE_PATTERN = /^(?=.*\d)[+0-9 ()./-]{3,50}$/;
export const PHONE_MESSAGE = 'must be a phone number (digits, spaces, + ( ) . / -)';

/**
 * Text without control or invisible formatting characters (zero-width spaces, direction
 * overrides), white space aside: they make look-alike names, and a name of them alone looks empty.
 */
export const VISIBLE_TEXT = /^(?:\s|[^\p{Cc}\p{Cf}])*$/u;
export const VISIBLE_TEXT_MESSAGE = 'must not contain control or invisible characters';

/**
 * A person's name: one line, without control or invisible formatting characters, except the
 * zero-width (non-)joiners that Persian and Indic names need inside words.
 */
export const PERSON_NAME = /^(?:[\u200c\u200d]|[^\p{Cc}\p{Cf}\u2028\u2029])*$/u;

/**
 * An email address as every route checks it (`@IsEmailAddress()`), CSV cells and custom field
 * values included: one rule, wherever an address is written. Invisible characters are refused:
 * `a\u200b@example.com` would be an account that looks like another one.
 */
export function isEmailAddress(text: string): boolean {
  return !/[\p{Cc}\p{Cf}]/u.test(text) && isEmail(text);
}

export const EMAIL_MESSAGE = 'must be an email address';
