import { Injectable } from '@nestjs/common';
import type { FieldErrorDto } from '../http/error-response.dto';
import { validateRules } from './rule-validator';
import { BASE_ACTIONS, type StoredRule, SubjectDefinition } from './rule.types';

/**
 * What can be authorised: each module registers its subjects (with the fields rules may
 * name and the built-in rules of the system roles) when it starts.
 */
@Injectable()
export class SubjectRegistry {
  private readonly subjects = new Map<string, SubjectDefinition>();

  register(...definitions: SubjectDefinition[]): void {
    for (const definition of definitions) this.subjects.set(definition.name, definition);
  }

  get(name: string): SubjectDefinition | undefined {
    return this.subjects.get(name);
  }

  all(): SubjectDefinition[] {
    return [...this.subjects.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  actionsFor(name: string): string[] {
    if (name === 'all') return [...new Set([...BASE_ACTIONS, ...this.all().flatMap((s) => s.extraActions ?? [])])];
    const subject = this.subjects.get(name);
    return subject ? [...BASE_ACTIONS, ...(subject.extraActions ?? [])] : [];
  }

  /** What is wrong with `rules` against the subjects registered (see validateRules); empty when nothing. */
  check(rules: StoredRule[]): FieldErrorDto[] {
    return validateRules(
      rules,
      (name) => this.get(name),
      this.all().map((subject) => subject.name),
      (name) => this.actionsFor(name),
    );
  }
}
