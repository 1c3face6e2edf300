import { ValidateIf } from 'class-validator';

/** `@Transform` that trims strings and leaves anything else for the validators to judge. */
export const trim = ({ value }: { value: unknown }): unknown => (typeof value === 'string' ? value.trim() : value);

/** May be left out, but not sent as null (unlike IsOptional, which lets null through). */
export const Omittable = (): PropertyDecorator => ValidateIf((_object: object, value: unknown) => value !== undefined);
