import { Matches, ValidateBy, ValidateIf } from 'class-validator';
import { EMAIL_MESSAGE, isEmailAddress, PERSON_NAME, PHONE_MESSAGE, PHONE_PATTERN, VISIBLE_TEXT, VISIBLE_TEXT_MESSAGE } from './formats';

/** `@Transform` that trims strings and leaves anything else for the validators to judge. */
export const trim = ({ value }: { value: unknown }): unknown => (typeof value === 'string' ? value.trim() : value);

/**
 * `@Transform` for whole numbers in a query string: only plain decimal digits become a number, so
 * an empty value, `0x10` or `1e3` stays text and fails the validators instead of slipping through.
 */
export const queryInteger = ({ value }: { value: unknown }): unknown => (typeof value === 'string' && /^-?\d{1,15}$/.test(value) ? Number(value) : value);

/** May be left out, but not sent as null (unlike IsOptional, which lets null through). */
export const Omittable = (): PropertyDecorator => ValidateIf((_object: object, value: unknown) => value !== undefined);

/**
 * The value as the client sent it. Objects whose keys are data (custom values, filter trees)
 * would otherwise lose keys such as `toString` in the class conversion, silently.
 */
export const asSent = ({ obj, key }: { obj: Record<string, unknown>; key: string }): unknown => obj[key];

/** A person's first or last name (see PERSON_NAME), wherever one is written. */
export const IsPersonName = (): PropertyDecorator => Matches(PERSON_NAME, { message: VISIBLE_TEXT_MESSAGE });

/** A phone number (see PHONE_PATTERN), wherever one is written. */
export const IsPhone = (): PropertyDecorator => Matches(PHONE_PATTERN, { message: PHONE_MESSAGE });

/** Text shown as a name or label (see VISIBLE_TEXT); `each` for every item of a list. */
export const IsVisibleText = (options: { each?: boolean } = {}): PropertyDecorator => Matches(VISIBLE_TEXT, { ...options, message: VISIBLE_TEXT_MESSAGE });

/** An email address (see isEmailAddress), wherever one is written. */
export const IsEmailAddress = (): PropertyDecorator =>
  ValidateBy({ name: 'isEmailAddress', validator: { validate: (value) => typeof value === 'string' && isEmailAddress(value), defaultMessage: () => EMAIL_MESSAGE } });
