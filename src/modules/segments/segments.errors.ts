import { ConflictException, NotFoundException, UnprocessableEntityException } from '@nestjs/common';

export class SegmentNotFoundError extends NotFoundException {
  constructor() {
    super({ message: 'Segment not found', code: 'segment_not_found' });
  }
}

export class SegmentNameTakenError extends ConflictException {
  constructor() {
    super({ message: 'A segment with this name already exists', code: 'segment_name_taken', details: [{ field: 'name', message: 'is already in use' }] });
  }
}

/** Members belong to static segments; a dynamic segment's contacts come from its rule. `field`: the part of the request that does not fit the kind. */
export class SegmentKindError extends UnprocessableEntityException {
  constructor(message: string, field?: { field: string; message: string }) {
    super({ message, code: 'segment_kind', ...(field ? { details: [field] } : {}) });
  }
}
