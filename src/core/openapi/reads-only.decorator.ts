import { ApiExtension } from '@nestjs/swagger';

export const READS_ONLY_EXTENSION = 'x-reads-only';

/**
 * A POST that only reads (a search, a preview): it meets no concurrent write, so the document
 * does not give it the 409 every write may answer. The mark itself is left out of the document.
 */
export const ReadsOnly = (): MethodDecorator => ApiExtension(READS_ONLY_EXTENSION, true);
