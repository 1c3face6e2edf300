import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Patch, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AppAbility } from '../../core/access/app-ability';
import { Audience, Authorize } from '../../core/access/authorize.decorator';
import { CurrentUser, RequestAbility } from '../../core/access/request-ability.decorator';
import { RequiresFeature } from '../../core/features/feature.decorator';
import { ApiErrors } from '../../core/http/api-errors.decorator';
import { ApiPageResponse, Page } from '../../core/http/pagination';
import { UuidParam } from '../../core/http/validation';
import type { AuthUser } from '../../core/identity/auth-user';
import { ContactPageDto } from '../contacts/dto/contact.dto';
import {
  AddSegmentMembersDto,
  AddSegmentMembersResultDto,
  CreateSegmentDto,
  PreviewSegmentDto,
  RemoveSegmentMembersDto,
  RemoveSegmentMembersResultDto,
  SegmentContactsQueryDto,
  SegmentDto,
  SegmentExplanationDto,
  SegmentQueryDto,
  UpdateSegmentDto,
} from './dto/segment.dto';
import { SegmentsService } from './segments.service';
import { ApiContactFilterModels } from '../contacts/dto/contact-filter.dto';
import { ReadsOnly } from '../../core/openapi/reads-only.decorator';

@ApiTags('segments')
@RequiresFeature('segments')
@Audience('staff')
@ApiContactFilterModels()
@Controller('segments')
export class SegmentsController {
  constructor(private readonly segments: SegmentsService) {}

  @Get()
  @Authorize('read', 'Segment')
  @ApiOperation({ summary: 'List segments with how many of their contacts you may see', operationId: 'listSegments' })
  @ApiPageResponse(SegmentDto)
  @ApiErrors(400, 401, 403, 404)
  list(@RequestAbility() ability: AppAbility, @Query() query: SegmentQueryDto): Promise<Page<SegmentDto>> {
    return this.segments.list(ability, query);
  }

  @Post()
  @Authorize('create', 'Segment')
  @ApiOperation({
    summary: 'Create a segment',
    description: 'A static segment starts empty (add members next); a dynamic one needs a `rule` in the contacts rule language.',
    operationId: 'createSegment',
  })
  @ApiCreatedResponse({ type: SegmentDto })
  @ApiErrors(400, 401, 403, 404, 409)
  create(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @Body() body: CreateSegmentDto): Promise<SegmentDto> {
    return this.segments.create(ability, actor, body);
  }

  @Post('preview')
  @Authorize('read', 'Segment')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'How many contacts a rule matches, and the first page of them, without saving a segment', operationId: 'previewSegment' })
  @ReadsOnly()
  @ApiOkResponse({ type: ContactPageDto })
  @ApiErrors(400, 401, 403, 404)
  preview(@RequestAbility() ability: AppAbility, @Body() body: PreviewSegmentDto): Promise<ContactPageDto> {
    return this.segments.preview(ability, body);
  }

  @Get(':id')
  @Authorize('read', 'Segment')
  @ApiOperation({ summary: 'Get a segment', operationId: 'getSegment' })
  @ApiOkResponse({ type: SegmentDto })
  @ApiErrors(400, 401, 403, 404)
  get(@RequestAbility() ability: AppAbility, @UuidParam() id: string): Promise<SegmentDto> {
    return this.segments.get(ability, id);
  }

  @Patch(':id')
  @Authorize('update', 'Segment')
  @ApiOperation({ summary: 'Rename a segment, describe it, or change the rule of a dynamic one', operationId: 'updateSegment' })
  @ApiOkResponse({ type: SegmentDto })
  @ApiErrors(400, 401, 403, 404, 409, 422)
  update(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Body() body: UpdateSegmentDto): Promise<SegmentDto> {
    return this.segments.update(ability, actor, id, body);
  }

  @Delete(':id')
  @Authorize('delete', 'Segment')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Delete a segment', description: 'Its contacts stay; only the segment and its member list go.', operationId: 'deleteSegment' })
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiErrors(400, 401, 403, 404)
  async remove(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string): Promise<void> {
    await this.segments.remove(ability, actor, id);
  }

  @Get(':id/contacts')
  @Authorize('read', 'Segment')
  @ApiOperation({
    summary: "The segment's contacts, as the contact list shows them",
    description: 'Members of a static segment, or the contacts matching a dynamic one right now; only contacts you may read. Same shape, sorting and paging as `GET /contacts`.',
    operationId: 'listSegmentContacts',
  })
  @ApiOkResponse({ type: ContactPageDto })
  @ApiErrors(400, 401, 403, 404)
  contacts(@RequestAbility() ability: AppAbility, @UuidParam() id: string, @Query() query: SegmentContactsQueryDto): Promise<ContactPageDto> {
    return this.segments.contactsOf(ability, id, query);
  }

  @Post(':id/members')
  @Authorize('update', 'Segment')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Add contacts to a static segment',
    description: 'Give `contactIds`, or a `filter` meaning every contact matching it right now. Only contacts you may read are added.',
    operationId: 'addSegmentMembers',
  })
  @ApiOkResponse({ type: AddSegmentMembersResultDto })
  @ApiErrors(400, 401, 403, 404, 422)
  addMembers(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Body() body: AddSegmentMembersDto): Promise<AddSegmentMembersResultDto> {
    return this.segments.addMembers(ability, actor, id, body);
  }

  @Delete(':id/members')
  @Authorize('update', 'Segment')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Take contacts out of a static segment', description: 'Only contacts you may read are taken out.', operationId: 'removeSegmentMembers' })
  @ApiOkResponse({ type: RemoveSegmentMembersResultDto })
  @ApiErrors(400, 401, 403, 404, 422)
  removeMembers(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Body() body: RemoveSegmentMembersDto): Promise<RemoveSegmentMembersResultDto> {
    return this.segments.removeMembers(ability, actor, id, body);
  }

  @Get(':id/explain/:contactId')
  @Authorize('read', 'Segment')
  @ApiOperation({
    summary: 'Why a contact is or is not in a dynamic segment',
    description: 'The rule tree with `matched` on every group and condition, evaluated in the database for this contact. 404 when you may not read the contact.',
    operationId: 'explainSegmentContact',
  })
  @ApiOkResponse({ type: SegmentExplanationDto })
  @ApiErrors(400, 401, 403, 404, 422)
  explain(@RequestAbility() ability: AppAbility, @UuidParam() id: string, @UuidParam('contactId') contactId: string): Promise<SegmentExplanationDto> {
    return this.segments.explain(ability, id, contactId);
  }
}
