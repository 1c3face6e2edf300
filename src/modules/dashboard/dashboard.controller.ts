import { Controller, Get, Header, Headers, HttpCode, HttpStatus, Post, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Audience, Authorize } from '../../core/access/authorize.decorator';
import type { AppAbility } from '../../core/access/app-ability';
import { CurrentUser, RequestAbility } from '../../core/access/request-ability.decorator';
import { RequiresFeature } from '../../core/features/feature.decorator';
import { ApiErrors } from '../../core/http/api-errors.decorator';
import type { AuthUser } from '../../core/identity/auth-user';
import { DashboardService } from './dashboard.service';
import { DashboardDto, DashboardRefreshDto, MyDashboardDto } from './dto/dashboard.dto';

@ApiTags('dashboard')
@RequiresFeature('dashboard')
@Audience('staff')
@Controller('dashboard')
export class DashboardController {
  constructor(private readonly dashboard: DashboardService) {}

  @Get()
  @Authorize('read', 'Dashboard')
  @ApiOperation({
    summary: 'The latest analytics snapshot',
    description:
      'Metrics over all contacts as of `computedAt` (the one that names a contact, `lastContacted`, is withheld from callers who may not read that contact and activity), recomputed in the background every DASHBOARD_REFRESH_MS and on `POST /dashboard/refresh`. ' +
      'Every metric carries a `definition` saying what it counts. Before the first snapshot exists the answer is `status: pending` with ' +
      '`metrics: null`, and a refresh is queued. Sent compressed (brotli or gzip) to clients that accept it.',
    operationId: 'getDashboard',
  })
  @ApiOkResponse({ type: DashboardDto })
  @ApiErrors(401, 403, 404)
  // The body is a DashboardDto serialised (and compressed) once per snapshot, not on every request.
  @Header('content-type', 'application/json; charset=utf-8')
  @Header('vary', 'Accept-Encoding')
  async get(
    @RequestAbility() ability: AppAbility,
    @Headers('accept-encoding') acceptEncoding: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Buffer> {
    const body = await this.dashboard.latestBody(ability, acceptEncoding);
    if (body.encoding !== 'identity') reply.header('content-encoding', body.encoding);
    return body.bytes;
  }

  @Post('refresh')
  @Authorize('refresh', 'Dashboard')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Recompute the snapshot now, in the background',
    description: 'Queues a refresh and returns its job id; asking again while it waits or runs returns the same job; asked again once it finished, that job runs again. Follow it on `GET /dashboard` (`computedAt` moves on).',
    operationId: 'refreshDashboard',
  })
  @ApiAcceptedResponse({ type: DashboardRefreshDto })
  @ApiErrors(401, 403, 404)
  refresh(): Promise<DashboardRefreshDto> {
    return this.dashboard.refreshOnDemand();
  }

  @Get('me')
  @Authorize('read', 'Dashboard')
  @ApiOperation({
    summary: 'Your own numbers, computed now',
    description: 'Over the contacts assigned to you: how many per stage, your customers not contacted for 1 week / 2 weeks / 1 month, and the activities you logged per week.',
    operationId: 'getMyDashboard',
  })
  @ApiOkResponse({ type: MyDashboardDto })
  @ApiErrors(401, 403, 404)
  mine(@CurrentUser() user: AuthUser): Promise<MyDashboardDto> {
    return this.dashboard.mine(user);
  }
}
