import { Injectable } from '@nestjs/common';
import { BASE_ACTIONS, SubjectDefinition } from './rule.types';

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
}
