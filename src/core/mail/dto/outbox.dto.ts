import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsEmail, IsIn, IsOptional, MaxLength } from 'class-validator';
import { PageQueryDto } from '../../http/pagination';
import { EMAIL_MESSAGE } from '../../http/formats';

export class OutboxQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ format: 'email', description: 'Only messages to this address.' })
  @IsOptional()
  @IsEmail({}, { message: EMAIL_MESSAGE })
  @MaxLength(254)
  to?: string;

  @ApiPropertyOptional({ enum: ['logged', 'sent', 'failed'] })
  @IsOptional()
  @IsIn(['logged', 'sent', 'failed'])
  status?: 'logged' | 'sent' | 'failed';
}

export class OutboxMessageDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'email' })
  toAddress: string;

  @ApiProperty()
  subject: string;

  @ApiProperty({ description: 'The text body; only kept for messages that were not delivered over SMTP.' })
  textBody: string;

  @ApiProperty({ example: 'password-reset' })
  template: string;

  @ApiProperty({ enum: ['logged', 'sent', 'failed'] })
  status: 'logged' | 'sent' | 'failed';

  @ApiProperty({ nullable: true, type: String })
  error: string | null;

  @ApiProperty({ format: 'date-time' })
  createdAt: Date;

  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  sentAt: Date | null;
}
