import { Injectable } from '@nestjs/common';

/** The business modules that can add a section to the portal dashboard. */
export const PORTAL_SECTION_FEATURES = ['invoicing', 'visitors'] as const;
export type PortalSectionFeature = (typeof PORTAL_SECTION_FEATURES)[number];

/** What a section shows for one client. */
export interface PortalSectionContent {
  title: string;
  /** Items waiting on the client (unpaid invoices, upcoming visits); listed among the dashboard's open items. */
  openCount: number;
  /** The section's own payload; its shape belongs to the module that provides it. */
  data: Record<string, unknown>;
}

export interface PortalSectionProvider {
  /** The section is shown only while this feature is on. */
  feature: PortalSectionFeature;
  /** Stable and unique: front ends choose the widget by it. */
  key: string;
  /** The section for one client (their contact id); never called while `feature` is off. */
  load(contactId: string): Promise<PortalSectionContent>;
}

/**
 * Where business modules plug their part of the client's dashboard (own invoices, own visits)
 * without the portal depending on them: a module registers its provider when it starts.
 * Registration is code, so every API process holds the same providers.
 */
@Injectable()
export class PortalSectionsRegistry {
  private readonly providers = new Map<string, PortalSectionProvider>();

  /** Adds a section provider; returns a function that removes it again. */
  register(provider: PortalSectionProvider): () => void {
    if (!(PORTAL_SECTION_FEATURES as readonly string[]).includes(provider.feature)) {
      throw new Error(`Portal sections belong to ${PORTAL_SECTION_FEATURES.join(' or ')}, not "${provider.feature}"`);
    }
    if (!/^[a-z][a-z0-9-]{0,49}$/.test(provider.key)) throw new Error(`Invalid portal section key "${provider.key}"`);
    if (this.providers.has(provider.key)) throw new Error(`A portal section "${provider.key}" is already registered`);
    this.providers.set(provider.key, provider);
    return () => {
      if (this.providers.get(provider.key) === provider) this.providers.delete(provider.key);
    };
  }

  /** Registered providers in key order, so the dashboard lists sections the same way every time. */
  all(): PortalSectionProvider[] {
    return [...this.providers.values()].sort((a, b) => a.key.localeCompare(b.key));
  }
}
