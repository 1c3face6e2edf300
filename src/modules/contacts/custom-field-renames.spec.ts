import { HttpException } from '@nestjs/common';
import { planOptionRenames, renameOptionsInRule } from './custom-field-renames';
import type { CustomField } from './entities/custom-field.entity';

const tier = { key: 'tier', type: 'select', options: ['Bronze', 'Silver', 'Gold'] } as Pick<CustomField, 'key' | 'type' | 'options'>;
const perks = { key: 'perks', type: 'multi_select', options: ['Wifi', 'Desk'] } as Pick<CustomField, 'key' | 'type' | 'options'>;

/** What the planner refuses with: status and body. */
function refusal(plan: () => unknown): { status: number; body: Record<string, unknown> } {
  try {
    plan();
  } catch (error) {
    if (error instanceof HttpException) return { status: error.getStatus(), body: error.getResponse() as Record<string, unknown> };
    throw error;
  }
  throw new Error('was not refused');
}

describe('planOptionRenames', () => {
  it('renames options in place, naming them as stored whatever case `from` is in', () => {
    expect(planOptionRenames(tier, [{ from: 'gold', to: 'Gold tier' }])).toEqual({ from: ['Gold'], to: ['Gold tier'], options: ['Bronze', 'Silver', 'Gold tier'] });
  });

  it('applies all renames at once: options may swap names', () => {
    expect(planOptionRenames(tier, [{ from: 'Gold', to: 'Silver' }, { from: 'Silver', to: 'Gold' }])).toEqual({
      from: ['Silver', 'Gold'],
      to: ['Gold', 'Silver'],
      options: ['Bronze', 'Gold', 'Silver'],
    });
  });

  it('allows a change of case only, and leaves out a rename that changes nothing', () => {
    expect(planOptionRenames(tier, [{ from: 'Gold', to: 'GOLD' }, { from: 'Silver', to: 'Silver' }])).toEqual({ from: ['Gold'], to: ['GOLD'], options: ['Bronze', 'Silver', 'GOLD'] });
  });

  it('refuses fields without options', () => {
    const answer = refusal(() => planOptionRenames({ key: 'budget', type: 'number', options: [] }, [{ from: 'a', to: 'b' }]));
    expect(answer).toMatchObject({ status: 422, body: { code: 'options_not_allowed', details: [{ field: 'renameOptions', message: 'budget is a number field, which has no options' }] } });
  });

  it('refuses an unknown `from`, naming the field and its options', () => {
    const answer = refusal(() => planOptionRenames(tier, [{ from: 'Gold', to: 'Gold tier' }, { from: 'Platinum', to: 'Plat' }]));
    expect(answer).toMatchObject({ status: 422, body: { code: 'unknown_option', details: [{ field: 'renameOptions.1.from', message: '"Platinum" is not an option of tier (its options: Bronze, Silver, Gold)' }] } });
  });

  it('refuses an option renamed twice', () => {
    const answer = refusal(() => planOptionRenames(tier, [{ from: 'Gold', to: 'A' }, { from: 'GOLD', to: 'B' }]));
    expect(answer).toMatchObject({ status: 422, body: { code: 'unknown_option', details: [{ field: 'renameOptions.1.from' }] } });
  });

  it('refuses a name another option keeps, ignoring case: renaming does not merge', () => {
    const answer = refusal(() => planOptionRenames(tier, [{ from: 'Gold', to: 'silver' }]));
    expect(answer).toMatchObject({ status: 409, body: { code: 'option_name_taken', details: [{ field: 'renameOptions.0.to', message: '"silver" is already an option of tier; renaming does not merge options' }] } });
  });

  it('refuses two options given one name', () => {
    const answer = refusal(() => planOptionRenames(tier, [{ from: 'Gold', to: 'Top' }, { from: 'Silver', to: 'top' }]));
    expect(answer).toMatchObject({ status: 422, body: { code: 'invalid_options', details: [{ field: 'renameOptions.0.to' }, { field: 'renameOptions.1.to' }] } });
  });

  it('refuses a multi-select name holding a list separator', () => {
    const answer = refusal(() => planOptionRenames(perks, [{ from: 'Desk', to: 'Desk; hot' }]));
    expect(answer).toMatchObject({ status: 422, body: { code: 'invalid_options', details: [{ field: 'renameOptions.0.to', message: expect.stringContaining('must not contain ","') }] } });
  });

  it('takes `options` in new names, and refuses an old name left in it', () => {
    expect(planOptionRenames(tier, [{ from: 'Gold', to: 'Gold tier' }], ['Silver', 'Gold tier', 'Platinum']).options).toEqual(['Bronze', 'Silver', 'Gold tier']);
    const answer = refusal(() => planOptionRenames(tier, [{ from: 'Gold', to: 'Gold tier' }], ['Silver', 'Gold']));
    expect(answer).toMatchObject({ status: 422, body: { code: 'invalid_options', details: [{ field: 'options.1', message: '"Gold" is renamed to "Gold tier" in this edit: list the new name' }] } });
    // Swapped names are both new names.
    expect(planOptionRenames(tier, [{ from: 'Gold', to: 'Silver' }, { from: 'Silver', to: 'Gold' }], ['Gold', 'Silver']).options).toEqual(['Bronze', 'Gold', 'Silver']);
  });
});

describe('renameOptionsInRule', () => {
  const plan = { from: ['Gold', 'Silver'], to: ['Gold tier', 'Silver tier'] };

  it('renames whole values of the field in every kind of group, ignoring case as filters do', () => {
    const rule = {
      and: [
        { field: 'custom.tier', op: 'is', value: 'gold' },
        { or: [{ field: 'custom.tier', op: 'in', value: ['Silver', 'Bronze'] }, { not: { field: 'custom.tier', op: 'isNot', value: 'GOLD' } }] },
        { field: 'city', op: 'is', value: 'Gold' },
        { field: 'custom.other', op: 'is', value: 'Gold' },
      ],
    } as never;
    expect(renameOptionsInRule(rule, tier, plan)).toEqual({
      and: [
        { field: 'custom.tier', op: 'is', value: 'Gold tier' },
        { or: [{ field: 'custom.tier', op: 'in', value: ['Silver tier', 'Bronze'] }, { not: { field: 'custom.tier', op: 'isNot', value: 'Gold tier' } }] },
        { field: 'city', op: 'is', value: 'Gold' },
        { field: 'custom.other', op: 'is', value: 'Gold' },
      ],
    });
  });

  it('leaves text matches alone and answers undefined for a rule it does not change', () => {
    expect(renameOptionsInRule({ field: 'custom.tier', op: 'contains', value: 'Gold' }, tier, plan)).toBeUndefined();
    expect(renameOptionsInRule({ field: 'custom.tier', op: 'is', value: 'Bronze' }, tier, plan)).toBeUndefined();
  });

  it('renames the list operators of a multi-select, one value once', () => {
    const rule = { field: 'custom.perks', op: 'hasAll', value: ['desk', 'Desk', 'Wifi'] } as never;
    expect(renameOptionsInRule(rule, perks, { from: ['Desk'], to: ['Hot desk'] })).toEqual({ field: 'custom.perks', op: 'hasAll', value: ['Hot desk', 'Wifi'] });
  });

  it('swaps names at once', () => {
    const rule = { field: 'custom.tier', op: 'in', value: ['Gold', 'Silver'] } as never;
    expect(renameOptionsInRule(rule, tier, { from: ['Silver', 'Gold'], to: ['Gold', 'Silver'] })).toEqual({ field: 'custom.tier', op: 'in', value: ['Silver', 'Gold'] });
  });
});
