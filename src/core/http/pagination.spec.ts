import { MAX_PAGE_SIZE, PageQueryDto, pageWindow, parseSort, SortDirection, SortFieldError, toPage } from './pagination';
import { RequestValidationError } from './validation';

const SORTS: Record<string, string> = {
  lastName: 'c.last_name',
  createdAt: 'c.created_at',
  'status.name': 's.name',
};
const FALLBACK: Array<[string, SortDirection]> = [['c.created_at', 'DESC']];

const query = (values: Partial<PageQueryDto>): PageQueryDto => Object.assign(new PageQueryDto(), values);

function sortError(sort: string): SortFieldError {
  try {
    parseSort(sort, SORTS, FALLBACK);
  } catch (error) {
    return error as SortFieldError;
  }
  throw new Error(`parseSort accepted "${sort}"`);
}

describe('parseSort', () => {
  it('uses the fallback when no sort is given', () => {
    expect(parseSort(undefined, SORTS, FALLBACK)).toBe(FALLBACK);
    expect(parseSort('', SORTS, FALLBACK)).toBe(FALLBACK);
  });

  it('maps a field to its SQL expression, ascending by default', () => {
    expect(parseSort('lastName', SORTS, FALLBACK)).toEqual([['c.last_name', 'ASC']]);
  });

  it('a - prefix sorts descending; several fields keep their order', () => {
    expect(parseSort('-createdAt,lastName,-status.name', SORTS, FALLBACK)).toEqual([
      ['c.created_at', 'DESC'],
      ['c.last_name', 'ASC'],
      ['s.name', 'DESC'],
    ]);
  });

  it('an unknown field is a 400 naming the field and the sortable ones', () => {
    const error = sortError('lastName,-password');
    expect(error).toBeInstanceOf(SortFieldError);
    expect(error).toBeInstanceOf(RequestValidationError);
    expect(error.getStatus()).toBe(400);
    expect(error.details).toEqual([{ field: 'sort', message: 'cannot sort by "password"; sortable fields: lastName, createdAt, status.name' }]);
  });

  it('field names are case-sensitive', () => {
    expect(sortError('lastname')).toBeInstanceOf(SortFieldError);
  });

  it('rejects names every object inherits (constructor, toString, ...), which are not sortable fields', () => {
    // The DTO's pattern lets these names through; they must not reach ORDER BY.
    for (const sort of ['constructor', '-toString', 'hasOwnProperty', 'valueOf', 'lastName,isPrototypeOf']) {
      let outcome: unknown;
      try {
        outcome = parseSort(sort, SORTS, FALLBACK);
      } catch (error) {
        outcome = error instanceof SortFieldError ? 'SortFieldError' : error;
      }
      expect({ sort, outcome }).toEqual({ sort, outcome: 'SortFieldError' });
    }
  });
});

describe('pageWindow', () => {
  it('computes the offset from page and limit', () => {
    expect(pageWindow(query({ page: 3, limit: 20 }), 100)).toEqual({ page: 3, limit: 20, offset: 40 });
    expect(pageWindow(query({ page: 1, limit: 10 }), 100)).toEqual({ page: 1, limit: 10, offset: 0 });
  });

  it('caps the limit to the deployment maximum, and computes the offset from the capped limit', () => {
    expect(pageWindow(query({ page: 2, limit: 500 }), 100)).toEqual({ page: 2, limit: 100, offset: 100 });
    expect(pageWindow(query({ page: 1, limit: MAX_PAGE_SIZE }), 250)).toEqual({ page: 1, limit: 250, offset: 0 });
  });

  it('keeps a limit equal to the maximum', () => {
    expect(pageWindow(query({ page: 4, limit: 50 }), 50)).toEqual({ page: 4, limit: 50, offset: 150 });
  });

  it('uses page 1 and 25 per page when the query leaves them out', () => {
    expect(pageWindow({} as PageQueryDto, 100)).toEqual({ page: 1, limit: 25, offset: 0 });
    expect(pageWindow({} as PageQueryDto, 10)).toEqual({ page: 1, limit: 10, offset: 0 });
    expect(pageWindow(new PageQueryDto(), 100)).toEqual({ page: 1, limit: 25, offset: 0 });
  });
});

describe('toPage', () => {
  it('wraps the rows with page, limit and total', () => {
    const rows = [{ id: 'a' }, { id: 'b' }];
    const page = toPage(rows, 42, { page: 2, limit: 2 });
    expect(page).toEqual({ data: rows, meta: { page: 2, limit: 2, total: 42 } });
    expect(page.data).toBe(rows);
  });

  it('takes only page and limit from the window', () => {
    expect(toPage([], 0, pageWindow(query({ page: 5, limit: 10 }), 100))).toEqual({ data: [], meta: { page: 5, limit: 10, total: 0 } });
  });
});
