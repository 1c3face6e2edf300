export * from './api-errors.decorator';
export * from './error-response.dto';
export * from './http-exception.filter';
export * from './pagination';
export * from './validation';
export * from './dto-helpers';
export * from './date-time';
export * from './formats';
